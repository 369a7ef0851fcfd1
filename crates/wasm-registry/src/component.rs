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
//! The import and export names are the component's top-level extern names (e.g.
//! `wasi:cli/run@0.2.0`), the same strings `oci-wasm` puts into the artifact's config from the
//! component's world.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmparser::{Chunk, Parser, Payload, ValidPayload, Validator};

/// What kind of Wasm binary a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
pub(crate) fn digest_file(path: &Path) -> Result<(String, u64), ComponentError> {
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
        if size == 0 && (n < 8 || &buf[..4] != b"\0asm") {
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
    mut release: impl FnMut(usize, usize),
) -> Result<WasmFile, ComponentError> {
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid {
        path: name.to_string(),
        message: e.message().to_string(),
        offset: e.offset(),
    };
    if data.len() < 8 || &data[..4] != b"\0asm" {
        return Err(ComponentError::NotWasm {
            path: name.to_string(),
        });
    }
    let kind = if Parser::is_component(data) {
        WasmKind::Component
    } else {
        WasmKind::Module
    };

    let mut hasher = Sha256::new();
    let mut hashed = 0usize;
    let mut released = 0usize;
    let mut advance = |to: usize, hasher: &mut Sha256| {
        while to - hashed >= WINDOW || (to == data.len() && hashed < to) {
            let end = (hashed + WINDOW).min(to);
            hasher.update(&data[hashed..end]);
            hashed = end;
            let page_end = hashed & !(4095);
            if page_end > released {
                release(released, page_end);
                released = page_end;
            }
        }
    };

    let mut validator = Validator::new();
    let mut parser = Parser::new(0);
    let mut stack: Vec<Parser> = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut offset = 0usize;
    loop {
        let Chunk::Parsed { consumed, payload } =
            parser.parse(&data[offset..], true).map_err(invalid)?
        else {
            unreachable!("with eof = true the parser never asks for more data");
        };
        if stack.is_empty() {
            match &payload {
                Payload::ComponentImportSection(section) => {
                    for import in section.clone() {
                        imports.push(import.map_err(invalid)?.name.full_name().into_owned());
                    }
                }
                Payload::ComponentExportSection(section) => {
                    for export in section.clone() {
                        exports.push(export.map_err(invalid)?.name.full_name().into_owned());
                    }
                }
                _ => {}
            }
        }
        let mut done = false;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Ok => {}
            ValidPayload::Parser(nested) => {
                stack.push(std::mem::replace(&mut parser, nested));
            }
            ValidPayload::Func(func, body) => {
                let mut v = func.into_validator(allocs);
                v.validate(&body).map_err(invalid)?;
                allocs = v.into_allocations();
            }
            ValidPayload::End(_) => match stack.pop() {
                Some(outer) => parser = outer,
                None => done = true,
            },
        }
        offset += consumed;
        advance(offset, &mut hasher);
        if done {
            break;
        }
    }
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
}
