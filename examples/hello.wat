;; The sample component of the demo (`cargo xtask demo`): imports a logger interface, exports a
;; greeter interface. `examples/hello.wasm` is this file assembled with the `wat` crate; a test
;; checks that the two agree.
(component
  (import "example:hello/logger@0.1.0" (instance $logger
    (export "log" (func (param "code" u32)))
  ))
  (core func $log (canon lower (func $logger "log")))
  (core module $m
    (import "host" "log" (func $log (param i32)))
    (func (export "greet") (result i32)
      i32.const 42
      call $log
      i32.const 7)
  )
  (core instance $host (export "log" (func $log)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func $greet (result u32) (canon lift (core func $i "greet")))
  (instance $greeter (export "greet" (func $greet)))
  (export "example:hello/greeter@0.1.0" (instance $greeter))
)
