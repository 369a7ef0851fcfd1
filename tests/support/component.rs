//! WebAssembly inputs for the tests: a small real component, components of any size, a core
//! module, and bytes that are not WebAssembly.
//!
//! Everything here is deterministic: the same call gives the same bytes (and so the same digest)
//! in every run, which keeps snapshots and "already exists" checks stable.

/// The sample component's text: imports a function `add-one` and exports `twice`, which calls
/// the import twice, through a core module, so it is valid and has both an import and an export.
const SAMPLE_COMPONENT_WAT: &str = r#"
(component
  (import "add-one" (func $add-one (param "x" u32) (result u32)))
  (core func $add-one-lowered (canon lower (func $add-one)))
  (core module $m
    (import "host" "add-one" (func $add-one (param i32) (result i32)))
    (func (export "twice") (param i32) (result i32)
      local.get 0
      call $add-one
      call $add-one))
  (core instance $host (export "add-one" (func $add-one-lowered)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func (export "twice") (param "x" u32) (result u32)
    (canon lift (core func $i "twice")))
)
"#;

/// The sample component the repository carries, `examples/hello.wasm` (the demo pushes it; its
/// source is `examples/hello.wat` beside it).
pub fn hello_wasm() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.wasm")
}

/// A small valid component with one import (`add-one`) and one export (`twice`).
pub fn sample_component() -> Vec<u8> {
    wat::parse_str(SAMPLE_COMPONENT_WAT).expect("sample component WAT")
}

/// A valid component of at least `bytes` bytes: [`sample_component`] followed by a custom
/// section `wasm-e2e-padding` of pseudo-random bytes. The same `bytes` always gives the same
/// component.
pub fn component_of_size(bytes: usize) -> Vec<u8> {
    component_of_size_seeded(bytes, 0)
}

/// Like [`component_of_size`], with the padding drawn from `seed`: different seeds give
/// components of the same size with different digests.
pub fn component_of_size_seeded(bytes: usize, seed: u64) -> Vec<u8> {
    const NAME: &[u8] = b"wasm-e2e-padding";
    let mut out = sample_component();
    // Custom section: id 0, content size (LEB128), content = name length, name, payload.
    let name_part = 1 + NAME.len();
    let total =
        |payload: usize| out.len() + 1 + leb128_len(name_part + payload) + name_part + payload;
    // Start below the answer (the size field takes at most 5 bytes) and step up to it, so the
    // component is exactly `bytes` long whenever it can be.
    let mut payload_len = bytes.saturating_sub(out.len() + 1 + 5 + name_part);
    while total(payload_len) < bytes {
        payload_len += 1;
    }
    out.reserve(total(payload_len) - out.len());
    out.push(0);
    leb128_u32(
        &mut out,
        u32::try_from(name_part + payload_len).expect("component under 4 GiB"),
    );
    out.push(NAME.len() as u8);
    out.extend_from_slice(NAME);
    fill_pseudo_random(&mut out, payload_len, seed);
    out
}

/// A valid core module (not a component): exports `answer`, returning 42.
pub fn core_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#)
        .expect("core module WAT")
}

/// Bytes that are not WebAssembly (text that does not start with `\0asm`).
pub fn not_wasm() -> Vec<u8> {
    b"this is not a WebAssembly binary\n".to_vec()
}

fn leb128_len(value: usize) -> usize {
    let bits = usize::BITS - value.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

fn leb128_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `len` pseudo-random bytes: a 1 MiB block of xorshift64* output drawn from `seed`,
/// repeated with each copy's first 8 bytes replaced by its index. Nothing on the path compresses
/// or deduplicates at that scale, and copying keeps 64 MiB fast in debug builds.
fn fill_pseudo_random(out: &mut Vec<u8>, len: usize, seed: u64) {
    const BLOCK: usize = 1 << 20;
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut block = Vec::with_capacity(BLOCK.min(len));
    while block.len() < BLOCK.min(len) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        let take = (BLOCK.min(len) - block.len()).min(8);
        block.extend_from_slice(&word[..take]);
    }
    let target = out.len() + len;
    let mut index = 0u64;
    while out.len() < target {
        let start = out.len();
        let take = (target - start).min(block.len());
        out.extend_from_slice(&block[..take]);
        let stamp = index.to_le_bytes();
        let n = take.min(8);
        out[start..start + n].copy_from_slice(&stamp[..n]);
        index += 1;
    }
}
