//! Checking a Wasm file before it is pushed: full validation, its kind (component or core
//! module), its top-level imports and exports, its size and its SHA-256 digest — in one pass
//! over the file, in bounded memory.
//!
//! The file is memory-mapped and walked with wasmparser's incremental `Parser`, which a
//! `Validator` follows payload by payload (validating each function body as it comes).
//! Mapping rather than reading keeps memory flat whatever the layout: the parser steps over the
//! contents of custom sections (debug info can be hundreds of MiB) and data segments without
//! touching them, and the pages already hashed and validated are handed back to the kernel as
//! the walk moves on. A reading parser would have to hold every such section whole.
//!
//! Function bodies are validated on worker threads (one per core), in batches of about
//! [`BATCH_BYTES`] as the walk reaches them: the walk hashes and parses while the bodies, most
//! of a code-heavy file's cost, are checked beside it. The error reported is the one at the
//! smallest offset, as a walk on one thread would report it.
//!
//! The import and export names are the component's top-level extern names (e.g.
//! `wasi:cli/run@0.2.0`), the same strings `oci-wasm` puts into the artifact's config from the
//! component's world.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmparser::{Chunk, Parser, Payload, ValidPayload, Validator};

/// What kind of Wasm binary a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasmKind {
    /// A component (the norm): os `wasip2`.
    Component,
    /// A core module: os `wasip1`, as oci-wasm labels it.
    Module,
}

impl WasmKind {
    /// The `os` that oci-wasm writes into the config for this kind.
    pub fn os(self) -> &'static str {
        match self {
            WasmKind::Component => oci_wasm::COMPONENT_OS,
            WasmKind::Module => oci_wasm::MODULE_OS,
        }
    }
}

/// A validated Wasm file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WasmFile {
    /// Component or core module.
    pub kind: WasmKind,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:...` of the bytes.
    pub digest: String,
    /// Top-level import names (components only).
    pub imports: Vec<String>,
    /// Top-level export names (components only).
    pub exports: Vec<String>,
}

/// A file that is not a valid Wasm component or module.
#[derive(Debug, Error)]
pub enum ComponentError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file changed between hashing and validation.
    #[error("{path} changed while it was being pushed; push it again once it is complete")]
    Changed {
        /// The file.
        path: String,
    },
    /// The file does not start like a Wasm binary.
    #[error(
        "{path} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes); \
         pass the `.wasm` file your build produced"
    )]
    NotWasm {
        /// The file.
        path: String,
    },
    /// The file is a Wasm binary but not a valid one.
    #[error("{path} is not valid WebAssembly: {message} (at byte offset {offset})")]
    Invalid {
        /// The file.
        path: String,
        /// wasmparser's message.
        message: String,
        /// Where, in bytes from the start of the file.
        offset: u64,
    },
}

/// How far behind the walk pages are hashed and released, in bytes.
const WINDOW: usize = 1 << 20;

/// Validates the file at `path` in one pass and describes it.
pub fn check_file(path: &Path) -> Result<WasmFile, ComponentError> {
    let name = path.display().to_string();
    let read_err = |source| ComponentError::Read {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() || meta.len() == 0 {
        // Pipes and devices cannot be mapped (and an empty file cannot be Wasm).
        return check_reader(file, &name);
    }
    // SAFETY: the mapping is read-only and private. If another process truncates the file
    // while it is mapped, reading past the new end raises SIGBUS — the same risk every tool
    // that maps its input (ripgrep, git) accepts; the digest catches any other change.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_err)?;
    check_bytes(&map, &name, |start, end| {
        // Pages already hashed and validated are not read again: let the kernel drop them so
        // that the resident set stays small however large the file.
        // SAFETY: `DontNeed` on a private, read-only file mapping only discards clean pages,
        // which are read back from the file if touched again; no slice into them is used
        // after this point (the walk only moves forward).
        #[allow(unsafe_code)]
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    })
}

/// The digest and size of the file at `path`, after checking that it starts like a Wasm
/// binary: the quick first pass of a push (hashing runs at well over 1 GB/s), so that the
/// upload can start while [`check_file`] validates.
pub fn digest_file(path: &Path) -> Result<(String, u64), ComponentError> {
    hash_file(path, true)
}

/// The digest and size of any file (a Wasm binary when `wasm`, checked by its first bytes).
pub(crate) fn hash_file(path: &Path, wasm: bool) -> Result<(String, u64), ComponentError> {
    let name = path.display().to_string();
    let read_err = |source| ComponentError::Read {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        if wasm && size == 0 && (n < 8 || &buf[..4] != b"\0asm") {
            return Err(ComponentError::NotWasm { path: name });
        }
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("sha256:{}", hex(&hasher.finalize())), size))
}

/// Validates Wasm bytes read from `reader` (read whole); `name` names it in errors.
#[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
pub fn check_reader(mut reader: impl Read, name: &str) -> Result<WasmFile, ComponentError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| ComponentError::Read {
            path: name.to_string(),
            source,
        })?;
    check_bytes(&bytes, name, |_, _| {})
}

/// The walk over the whole binary. `release(start, end)` is called for page-aligned ranges
/// that have been hashed and validated and will not be read again.
fn check_bytes(
    data: &[u8],
    name: &str,
    release: impl FnMut(usize, usize),
) -> Result<WasmFile, ComponentError> {
    if data.len() < 8 || &data[..4] != b"\0asm" {
        return Err(ComponentError::NotWasm {
            path: name.to_string(),
        });
    }
    // Function bodies go to worker threads, one per core: the walk itself (parsing sections,
    // hashing) is light and mostly waits for room in the queue. A small file is checked on
    // this thread alone: threads would cost more than they save.
    let workers = if data.len() >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        0
    };
    check_with_workers(data, name, release, workers)
}

/// [`check_bytes`] with `workers` threads validating function bodies (0: none, all on this
/// thread).
fn check_with_workers(
    data: &[u8],
    name: &str,
    mut release: impl FnMut(usize, usize),
    workers: usize,
) -> Result<WasmFile, ComponentError> {
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid {
        path: name.to_string(),
        message: e.message().to_string(),
        offset: e.offset(),
    };
    let kind = if Parser::is_component(data) {
        WasmKind::Component
    } else {
        WasmKind::Module
    };
    let mut hasher = Sha256::new();
    let mut hashed = 0usize;
    let mut released = 0usize;
    // Where the function bodies that workers have not validated yet start (offset -> how
    // many): their pages must stay, or the workers fault them back in after they were released
    // and nothing releases them again (a 64 MiB push then held the whole file resident).
    let in_flight: std::sync::Mutex<std::collections::BTreeMap<usize, usize>> =
        std::sync::Mutex::default();
    let mut advance = |to: usize| {
        while to - hashed >= WINDOW || (to == data.len() && hashed < to) {
            let end = (hashed + WINDOW).min(to);
            hasher.update(&data[hashed..end]);
            hashed = end;
            let oldest = in_flight
                .lock()
                .expect("poisoned")
                .keys()
                .next()
                .copied()
                .unwrap_or(usize::MAX);
            let page_end = hashed.min(oldest) & !(4095);
            if page_end > released {
                release(released, page_end);
                released = page_end;
            }
        }
    };
    let first_error: std::sync::Mutex<Option<wasmparser::BinaryReaderError>> =
        std::sync::Mutex::new(None);
    let keep_earliest = |e: wasmparser::BinaryReaderError| {
        let mut slot = first_error.lock().expect("poisoned");
        if slot.as_ref().is_none_or(|f| e.offset() < f.offset()) {
            *slot = Some(e);
        }
    };
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Body<'_>>>(QUEUED_BATCHES);
    let receive = std::sync::Mutex::new(receive);
    let walked = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (receive, keep_earliest, in_flight) = (&receive, &keep_earliest, &in_flight);
            scope.spawn(move || {
                let mut allocs = wasmparser::FuncValidatorAllocations::default();
                loop {
                    let next = receive.lock().expect("poisoned").recv();
                    let Ok(batch) = next else { return };
                    let Some(start) = batch.first().map(|(_, body)| body_start(body)) else {
                        continue;
                    };
                    for (func, body) in batch {
                        let mut v = func.into_validator(allocs);
                        if let Err(e) = v.validate(&body) {
                            keep_earliest(e);
                        }
                        allocs = v.into_allocations();
                    }
                    let mut in_flight = in_flight.lock().expect("poisoned");
                    if let Some(count) = in_flight.get_mut(&start) {
                        *count -= 1;
                        if *count == 0 {
                            in_flight.remove(&start);
                        }
                    }
                }
            });
        }
        let send = (workers > 0).then_some(send);
        let walked = walk(
            data,
            &send,
            &keep_earliest,
            &mut advance,
            &first_error,
            &in_flight,
        );
        if walked.is_ok() {
            advance(data.len());
        }
        walked
        // `send` drops here: the workers finish the bodies queued and end.
    });
    let earliest = first_error.into_inner().expect("poisoned");
    let (imports, exports, offset) = match (walked, earliest) {
        (Err(e), Some(body)) if body.offset() < e.offset() => return Err(invalid(body)),
        (Err(e), _) => return Err(invalid(e)),
        (Ok(_), Some(body)) => return Err(invalid(body)),
        (Ok(found), None) => found,
    };
    if offset < data.len() {
        return Err(ComponentError::Invalid {
            path: name.to_string(),
            message: "unexpected data after the end of the binary".into(),
            offset: offset as u64,
        });
    }
    Ok(WasmFile {
        kind,
        size: data.len() as u64,
        digest: format!("sha256:{}", hex(&hasher.finalize())),
        imports,
        exports,
    })
}

/// Where a function body starts in the file (0, which keeps every page, should it not fit).
fn body_start(body: &wasmparser::FunctionBody<'_>) -> usize {
    usize::try_from(body.range().start).unwrap_or(0)
}

/// Batches of function bodies queued for the workers at most: their pages stay resident until
/// validated, so this and [`BATCH_BYTES`] bound what the parallel validation adds to memory
/// (docs/benchmarks.md holds the target of 4 MiB between a 1 MiB and a 64 MiB push, and the
/// measured figure).
const QUEUED_BATCHES: usize = 4;

/// Function bodies go to the workers in batches of about this many bytes: one body at a time
/// (a compiled component has tens of thousands, most of them small) cost a thread wake-up
/// each, a fifth of the CPU of validating a 64 MiB component.
const BATCH_BYTES: usize = 256 << 10;

/// Files from this size on have their function bodies validated on other threads.
const PARALLEL_FROM: usize = 4 << 20;

/// A function body on its way to a worker thread.
type Body<'a> = (
    wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    wasmparser::FunctionBody<'a>,
);

/// The walk of [`check_bytes`]: parses and validates `data` payload by payload, sending
/// function bodies to `send` (or validating them here without workers), calling `advance` as
/// it moves. Returns the top-level imports and exports and where the binary ended.
fn walk<'a>(
    data: &'a [u8],
    send: &Option<std::sync::mpsc::SyncSender<Vec<Body<'a>>>>,
    keep_earliest: &dyn Fn(wasmparser::BinaryReaderError),
    advance: &mut dyn FnMut(usize),
    first_error: &std::sync::Mutex<Option<wasmparser::BinaryReaderError>>,
    in_flight: &std::sync::Mutex<std::collections::BTreeMap<usize, usize>>,
) -> Result<(Vec<String>, Vec<String>, usize), wasmparser::BinaryReaderError> {
    let mut validator = Validator::new();
    let mut parser = Parser::new(0);
    let mut stack: Vec<Parser> = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut offset = 0usize;
    // Dropped on every way out of the walk, error or not, sending what it holds: an earlier
    // body's error must still be found.
    let mut batch = Batch {
        send: send.as_ref(),
        bodies: Vec::new(),
        bytes: 0,
    };
    loop {
        let parsed = parser.parse(&data[offset..], true)?;
        let Chunk::Parsed { consumed, payload } = parsed else {
            unreachable!("with eof = true the parser never asks for more data");
        };
        if stack.is_empty() {
            match &payload {
                Payload::ComponentImportSection(section) => {
                    for import in section.clone() {
                        imports.push(import?.name.full_name().into_owned());
                    }
                }
                Payload::ComponentExportSection(section) => {
                    for export in section.clone() {
                        exports.push(export?.name.full_name().into_owned());
                    }
                }
                _ => {}
            }
        }
        // The bodies of a code section go before the walk moves past it.
        if !matches!(payload, Payload::CodeSectionEntry(_)) {
            batch.flush();
        }
        let mut done = false;
        match validator.payload(&payload)? {
            ValidPayload::Ok => {}
            ValidPayload::Parser(nested) => {
                stack.push(std::mem::replace(&mut parser, nested));
            }
            ValidPayload::Func(func, body) => match send {
                // A worker found an invalid body: every later one has a larger offset.
                Some(_) if first_error.lock().expect("poisoned").is_some() => {}
                Some(_) => {
                    if batch.bodies.is_empty() {
                        // Its pages stay until the batch is validated.
                        *in_flight
                            .lock()
                            .expect("poisoned")
                            .entry(body_start(&body))
                            .or_default() += 1;
                    }
                    batch.push(func, body);
                }
                None => {
                    let mut v = func.into_validator(allocs);
                    if let Err(e) = v.validate(&body) {
                        keep_earliest(e);
                        return Ok((imports, exports, offset));
                    }
                    allocs = v.into_allocations();
                }
            },
            ValidPayload::End(_) => match stack.pop() {
                Some(outer) => parser = outer,
                None => done = true,
            },
        }
        offset += consumed;
        advance(offset);
        if done {
            return Ok((imports, exports, offset));
        }
    }
}

/// Function bodies gathered for the workers, sent [`BATCH_BYTES`] at a time.
struct Batch<'s, 'a> {
    send: Option<&'s std::sync::mpsc::SyncSender<Vec<Body<'a>>>>,
    bodies: Vec<Body<'a>>,
    bytes: usize,
}

impl<'a> Batch<'_, 'a> {
    fn push(
        &mut self,
        func: wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
        body: wasmparser::FunctionBody<'a>,
    ) {
        let range = body.range();
        self.bytes += usize::try_from(range.end - range.start).unwrap_or(BATCH_BYTES);
        self.bodies.push((func, body));
        if self.bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(send) = self.send
            && !self.bodies.is_empty()
        {
            self.bytes = 0;
            // The workers end only when `send` drops, after the walk: this cannot fail.
            let _ = send.send(std::mem::take(&mut self.bodies));
        }
    }
}

impl Drop for Batch<'_, '_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Computes the digest of bytes as they stream, in the algorithm of an expected digest
/// (`sha256` or `sha512`, the ones a reference may name).
pub(crate) enum StreamingDigest {
    Sha256(Sha256),
    Sha512(sha2::Sha512),
}

impl StreamingDigest {
    /// A hasher for the algorithm of `expected` (`sha256` when it names another).
    pub(crate) fn for_digest(expected: &str) -> Self {
        if expected.starts_with("sha512:") {
            Self::Sha512(sha2::Sha512::new())
        } else {
            Self::Sha256(Sha256::new())
        }
    }

    /// Adds bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    /// `ALGORITHM:HEX` of everything added.
    pub(crate) fn finish(self) -> String {
        match self {
            Self::Sha256(h) => format!("sha256:{}", hex(&h.finalize())),
            Self::Sha512(h) => format!("sha512:{}", hex(&h.finalize())),
        }
    }
}

/// `sha256:...` of a byte slice.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A minimal core module: header only.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";
    // A minimal component: header only (version 0x0d, layer 1).
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn kinds_and_digests() {
        let m = check_reader(EMPTY_MODULE, "m.wasm").unwrap();
        assert_eq!(m.kind, WasmKind::Module);
        assert_eq!(m.size, 8);
        assert_eq!(m.digest, sha256_digest(EMPTY_MODULE));
        let c = check_reader(EMPTY_COMPONENT, "c.wasm").unwrap();
        assert_eq!(c.kind, WasmKind::Component);
        assert_eq!(c.kind.os(), "wasip2");
    }

    #[test]
    fn refuses_non_wasm_and_truncated_input() {
        let e = check_reader(&b"hello world"[..], "x.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.txt is not a WebAssembly file (it does not start with the `\\0asm` magic bytes); pass the `.wasm` file your build produced"
        );
        // A type section that claims 5 bytes but has 1.
        let e = check_reader(&b"\0asm\x01\0\0\0\x01\x05\x01"[..], "t.wasm").unwrap_err();
        assert!(
            matches!(&e, ComponentError::Invalid { offset, .. } if *offset > 0),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("t.wasm is not valid WebAssembly: "),
            "{e}"
        );
    }

    #[test]
    fn reads_in_small_pieces() {
        // A reader that returns one byte at a time exercises every NeedMoreData path.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        // type section with one func type () -> (), func section, code section with one body.
        let module: &[u8] =
            b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b";
        let m = check_reader(OneByte(module), "m.wasm").unwrap();
        assert_eq!(m.size, module.len() as u64);
        // The same module with a body that does not validate (`i32.add` on an empty stack).
        let bad: &[u8] =
            b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x05\x01\x03\0\x6a\x0b";
        let e = check_reader(OneByte(bad), "b.wasm").unwrap_err();
        assert!(e.to_string().contains("type mismatch"), "{e}");
    }

    fn leb(mut value: usize, out: &mut Vec<u8>) {
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

    /// A core module of `count` functions of `nops` `nop`s each; the functions at `bad` hold
    /// an `i32.add` on an empty stack.
    fn module_of_functions(count: usize, nops: usize, bad: &[usize]) -> Vec<u8> {
        let mut out = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0".to_vec();
        let mut funcs = Vec::new();
        leb(count, &mut funcs);
        funcs.extend(std::iter::repeat_n(0u8, count));
        out.push(3);
        leb(funcs.len(), &mut out);
        out.extend(funcs);
        let mut code = Vec::new();
        leb(count, &mut code);
        for i in 0..count {
            let mut body = vec![0u8];
            body.extend(std::iter::repeat_n(1u8, nops));
            if bad.contains(&i) {
                body.push(0x6a);
            }
            body.push(0x0b);
            leb(body.len(), &mut code);
            code.extend(body);
        }
        out.push(10);
        leb(code.len(), &mut out);
        out.extend(code);
        out
    }

    /// Bodies validated on worker threads give the verdict of one thread: valid, or the
    /// invalid body at the smallest offset.
    #[test]
    fn workers_report_what_one_thread_reports() {
        let good = module_of_functions(400, 1000, &[]);
        let one = check_with_workers(&good, "m.wasm", |_, _| {}, 0).unwrap();
        for workers in [1, 3] {
            assert_eq!(
                check_with_workers(&good, "m.wasm", |_, _| {}, workers).unwrap(),
                one
            );
        }
        let bad = module_of_functions(400, 1000, &[230, 399, 310]);
        let one = check_with_workers(&bad, "m.wasm", |_, _| {}, 0)
            .unwrap_err()
            .to_string();
        for workers in [1, 3] {
            for _ in 0..3 {
                let many = check_with_workers(&bad, "m.wasm", |_, _| {}, workers)
                    .unwrap_err()
                    .to_string();
                assert_eq!(many, one);
            }
        }
        assert!(one.contains("type mismatch"), "{one}");
    }

    /// A walk that fails after an invalid body whose batch was not sent yet still reports
    /// that body (the earlier offset), as one thread does.
    #[test]
    fn an_unsent_batch_is_validated_when_the_walk_fails() {
        let mut bad = module_of_functions(20, 100, &[10]);
        // A section header cut short after the code section: the parser fails there, before
        // any payload could send the batch.
        bad.extend([0x0b, 0xff]);
        let one = check_with_workers(&bad, "m.wasm", |_, _| {}, 0)
            .unwrap_err()
            .to_string();
        assert!(one.contains("type mismatch"), "{one}");
        for workers in [1, 2] {
            let many = check_with_workers(&bad, "m.wasm", |_, _| {}, workers)
                .unwrap_err()
                .to_string();
            assert_eq!(many, one);
        }
    }
}
