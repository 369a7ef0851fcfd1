//! Deterministic, valid, code-heavy Wasm components for `cargo xtask bench`.
//!
//! Real compiled components are mostly code: a component wrapping one core module whose code
//! section holds thousands of functions. So is what this makes: one core module with many
//! functions whose bodies are long runs of simple instructions (`i32.const`, arithmetic,
//! `local.tee`, `drop`, calls to earlier functions and to the import) with constants from a
//! seeded PRNG, wrapped in a component that imports `log: func(x: u32)` and exports
//! `run: func(x: u32) -> u32`, so that it has a world. There is no large data segment or custom
//! section: a tool that treats code differently from data sees what it would see in the wild.
//!
//! What must stay true:
//! - the same `(size, seed)` gives the same bytes on every machine and every run, as long as
//!   [`GENERATOR_VERSION`] is unchanged: bump it whenever the output changes, because cached
//!   files are keyed by it;
//! - every file handed out has passed `wasmparser::Validator::validate_all` once, when it was
//!   generated;
//! - cached files appear atomically (written beside, then renamed), so an interrupted run
//!   never leaves a truncated component behind.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use wasm_encoder::{
    CodeSection, ComponentBuilder, ComponentExportKind, ComponentTypeRef, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, ImportSection, Module, ModuleArg, PrimitiveValType,
    TypeSection, ValType,
};

/// Part of every cache key: bump it when the bytes for a given `(size, seed)` change.
pub(crate) const GENERATOR_VERSION: u32 = 1;

/// Room left for everything but function bodies: the component's sections, the core module's
/// type, import, function and export sections.
const OVERHEAD: usize = 512;

/// A component of about `size` bytes (a few hundred below at most, never above), the same bytes
/// for the same arguments.
pub(crate) fn component(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let module = core_module(size.saturating_sub(OVERHEAD), &mut rng);

    let mut builder = ComponentBuilder::default();
    let (log_type, mut encoder) = builder.type_function(None);
    encoder.params([("x", PrimitiveValType::U32)]).result(None);
    let log = builder.import("log", ComponentTypeRef::Func(log_type));
    let log_core = builder.lower_func(None, log, []);
    let host = builder.core_instantiate_exports(None, [("log", ExportKind::Func, log_core)]);
    let module = builder.core_module(None, &module);
    let instance = builder.core_instantiate(None, module, [("host", ModuleArg::Instance(host))]);
    let run_core = builder.core_alias_export(None, instance, "run", ExportKind::Func);
    let (run_type, mut encoder) = builder.type_function(None);
    encoder
        .params([("x", PrimitiveValType::U32)])
        .result(Some(PrimitiveValType::U32.into()));
    let run = builder.lift_func(None, run_core, run_type, []);
    builder.export("run", ComponentExportKind::Func, run, None);
    builder.finish()
}

/// The core module: `host.log: (i32) -> ()` imported, function bodies filling `code_size`
/// bytes, the last function exported as `run: (i32) -> i32`.
fn core_module(code_size: usize, rng: &mut SplitMix64) -> Module {
    const LOG_TYPE: u32 = 0;
    const BODY_TYPE: u32 = 1;
    const LOG_FUNC: u32 = 0;

    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import("host", "log", EntityType::Function(LOG_TYPE));

    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    // Each function costs its body, its body's length prefix (up to 3 bytes here) and one byte
    // in the function section.
    let mut used = 0;
    let mut index = LOG_FUNC + 1;
    while used + 64 < code_size {
        // Bodies of 1 to 8 KiB, like the mid-sized functions of compiled code.
        let wanted = 1024 + rng.below(7 * 1024) as usize;
        let body = function_body(index, wanted.min(code_size - used - 16), rng);
        used += body.byte_len() + 4;
        functions.function(BODY_TYPE);
        code.function(&body);
        index += 1;
    }
    let run = index - 1;
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, run);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&exports)
        .section(&code);
    module
}

/// A `(i32) -> i32` function of `size` bytes, give or take one step (at most 7 bytes): the
/// parameter is on the stack from the start, every step leaves exactly one `i32` there, and
/// `end` returns it.
fn function_body(index: u32, size: usize, rng: &mut SplitMix64) -> Function {
    const SCRATCH: u32 = 1;
    let mut function = Function::new([(1, ValType::I32)]);
    function.instructions().local_get(0);
    // The last step plus `end` may pass `size` by up to 7 bytes.
    while function.byte_len() + 7 < size {
        let mut sink = function.instructions();
        match rng.below(16) {
            0 => sink.i32_const(rng.constant()).i32_sub(),
            1 => sink.i32_const(rng.constant()).i32_xor(),
            2 => sink.i32_const(rng.constant()).i32_mul(),
            3 => sink.i32_const(rng.constant()).i32_and(),
            4 => sink.i32_const(rng.constant()).i32_or(),
            5 => sink.i32_const(rng.shift()).i32_shl(),
            6 => sink.i32_const(rng.shift()).i32_rotl(),
            7 => sink.local_tee(SCRATCH),
            8 => sink.local_get(SCRATCH).i32_add(),
            9 => sink.i32_const(rng.constant()).drop(),
            // A call to an earlier body function (never itself: no recursion), `(i32) -> i32`.
            10 if index > 1 => {
                let earlier = u32::try_from(rng.below(u64::from(index - 1))).unwrap_or(0);
                sink.call(1 + earlier)
            }
            // The import: `(i32) -> ()`.
            11 => sink.local_get(0).call(0),
            _ => sink.i32_const(rng.constant()).i32_add(),
        };
    }
    function.instructions().end();
    function
}

/// The path of the component of `size` bytes from `seed` under `dir`, generating, validating
/// and writing it first when it is not there yet.
///
/// # Errors
///
/// When the directory or the file cannot be written, or when the generated bytes do not
/// validate (a bug in this module).
pub(crate) fn cached(dir: &Path, size: usize, seed: u64) -> Result<PathBuf> {
    let path = dir.join(format!("gen{GENERATOR_VERSION}-{size}-{seed:016x}.wasm"));
    if path.is_file() {
        return Ok(path);
    }
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let bytes = component(size, seed);
    wasmparser::Validator::new()
        .validate_all(&bytes)
        .with_context(|| {
            format!("the generated component ({size} bytes, seed {seed:#x}) is not valid")
        })?;
    let partial = path.with_extension("wasm.partial");
    fs::write(&partial, &bytes)
        .with_context(|| format!("could not write {}", partial.display()))?;
    fs::rename(&partial, &path)
        .with_context(|| format!("could not rename {} into place", partial.display()))?;
    Ok(path)
}

/// Steele, Lea and Flood's SplitMix64: tiny, fast, and the same everywhere, which is all a
/// generator of test bytes needs (no dependency, no version drift).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0); the modulo bias is irrelevant here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A shift amount, `0..32`.
    fn shift(&mut self) -> i32 {
        (self.next() >> 59) as i32
    }

    /// An `i32` constant whose encoded length varies from 1 to 5 bytes, small ones most often,
    /// as in compiled code (offsets, masks, counters, the odd hash constant).
    fn constant(&mut self) -> i32 {
        let value = self.next();
        let bits = [6, 6, 6, 13, 13, 20, 27, 32][(value & 7) as usize];
        // Truncation to the low `bits` bits, then reinterpretation as signed, is the point.
        #[allow(clippy::cast_possible_truncation)]
        let constant = ((value >> 3) & ((1u64 << bits) - 1)) as u32 as i32;
        constant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_valid_deterministic_and_about_the_size_asked() {
        for (size, seed) in [(1024, 1), (100 * 1024, 2), (300 * 1024, 3)] {
            let bytes = component(size, seed);
            wasmparser::Validator::new().validate_all(&bytes).unwrap();
            assert!(wasmparser::Parser::is_component(&bytes));
            assert!(bytes.len() <= size, "{} > {size}", bytes.len());
            assert!(
                bytes.len() + 600 >= size,
                "{} far below {size}",
                bytes.len()
            );
            assert_eq!(bytes, component(size, seed));
        }
        assert_ne!(component(4096, 1), component(4096, 2));
    }

    #[test]
    fn components_are_mostly_code() {
        let bytes = component(256 * 1024, 7);
        let mut code = 0;
        for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
            if let wasmparser::Payload::CodeSectionStart { size, .. } = payload.unwrap() {
                code += size as usize;
            }
        }
        assert!(
            code * 100 >= bytes.len() * 99,
            "code {code} of {}",
            bytes.len()
        );
    }

    #[test]
    fn the_cache_reuses_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = cached(dir.path(), 2048, 9).unwrap();
        assert_eq!(fs::read(&path).unwrap(), component(2048, 9));
        fs::write(&path, b"marker").unwrap();
        assert_eq!(cached(dir.path(), 2048, 9).unwrap(), path);
        assert_eq!(fs::read(&path).unwrap(), b"marker");
    }
}
