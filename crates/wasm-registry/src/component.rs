//! Checking a Wasm file before it is pushed: full validation, its kind (component or core
//! module), its top-level imports and exports, its size and its SHA-256 digest — in one
//! streaming pass over the file.
//!
//! `wasmparser`'s `validate_all` wants the whole file in memory; its `Parser` also works
//! incrementally, and a `Validator` can follow it payload by payload, which is what this module
//! does so that a push never holds the component in memory (the buffer holds at most the
//! largest single payload, e.g. one function body or data segment).
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

const READ_SIZE: usize = 256 * 1024;

/// Validates the file at `path` in one streaming pass and describes it.
pub fn check_file(path: &Path) -> Result<WasmFile, ComponentError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ComponentError::Read {
        path: name.clone(),
        source,
    })?;
    check_reader(file, &name)
}

/// Validates Wasm bytes read from `reader`; `name` names it in errors.
pub fn check_reader(mut reader: impl Read, name: &str) -> Result<WasmFile, ComponentError> {
    let read_err = |source| ComponentError::Read {
        path: name.to_string(),
        source,
    };
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid {
        path: name.to_string(),
        message: e.message().to_string(),
        offset: e.offset(),
    };

    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE);
    let mut start = 0usize; // consumed bytes at the front of `buf`
    let mut drained = 0usize; // bytes dropped from the front of `buf` so far
    let mut eof = false;

    // Fill the first 8 bytes to check the header before handing anything to the parser.
    while buf.len() < 8 && !eof {
        eof = fill(&mut reader, &mut buf, &mut hasher, &mut size).map_err(read_err)?;
    }
    if buf.len() < 8 || &buf[..4] != b"\0asm" {
        return Err(ComponentError::NotWasm {
            path: name.to_string(),
        });
    }
    let kind = if Parser::is_component(&buf) {
        WasmKind::Component
    } else {
        WasmKind::Module
    };

    let mut validator = Validator::new();
    let mut parser = Parser::new(0);
    let mut stack: Vec<Parser> = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    let mut imports = Vec::new();
    let mut exports = Vec::new();

    loop {
        let (consumed, done) = match parser.parse(&buf[start..], eof).map_err(invalid)? {
            Chunk::NeedMoreData(hint) => {
                if start > 0 && start >= buf.len() / 2 {
                    buf.drain(..start);
                    drained += start;
                    start = 0;
                }
                let want = hint.max(READ_SIZE);
                buf.reserve(want);
                eof = fill(&mut reader, &mut buf, &mut hasher, &mut size).map_err(read_err)?;
                continue;
            }
            Chunk::Parsed { consumed, payload } => {
                if stack.is_empty() {
                    match &payload {
                        Payload::ComponentImportSection(section) => {
                            for import in section.clone() {
                                imports
                                    .push(import.map_err(invalid)?.name.full_name().into_owned());
                            }
                        }
                        Payload::ComponentExportSection(section) => {
                            for export in section.clone() {
                                exports
                                    .push(export.map_err(invalid)?.name.full_name().into_owned());
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
                (consumed, done)
            }
        };
        start += consumed;
        if done {
            break;
        }
    }
    // Bytes after the end of the binary: wasmparser reports them only when asked to parse them.
    let end = drained + start;
    let mut trailing = start < buf.len();
    while !trailing && !eof {
        let before = buf.len();
        eof = fill(&mut reader, &mut buf, &mut hasher, &mut size).map_err(read_err)?;
        trailing = buf.len() > before;
    }
    if trailing {
        return Err(ComponentError::Invalid {
            path: name.to_string(),
            message: "unexpected data after the end of the binary".into(),
            offset: end as u64,
        });
    }
    let digest = format!("sha256:{}", hex(&hasher.finalize()));
    Ok(WasmFile {
        kind,
        size,
        digest,
        imports,
        exports,
    })
}

/// Reads one chunk into `buf`; returns whether the reader is at its end.
fn fill(
    reader: &mut impl Read,
    buf: &mut Vec<u8>,
    hasher: &mut Sha256,
    size: &mut u64,
) -> std::io::Result<bool> {
    let old = buf.len();
    buf.resize(old + READ_SIZE, 0);
    let n = loop {
        match reader.read(&mut buf[old..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(old);
                return Err(e);
            }
        }
    };
    buf.truncate(old + n);
    hasher.update(&buf[old..]);
    *size += n as u64;
    Ok(n == 0)
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

/// `sha256:...` of a byte slice.
pub fn sha256_digest(bytes: &[u8]) -> String {
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
