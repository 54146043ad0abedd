//! The llama.cpp and ggml calls fine-tuning needs and `llama-cpp-2` does not wrap: GGUF type
//! conversion, GGUF metadata, and a model's weights loaded into a ggml CPU buffer and written
//! back, each behind a small owner that frees what it holds.

use super::LmError;
use llama_cpp_sys_2 as sys;
use std::ffi::{CStr, CString};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::ptr::NonNull;

pub(super) fn c_path(path: &Path) -> Result<CString, LmError> {
    let s = path
        .to_str()
        .ok_or_else(|| LmError::Config(format!("{}: not a UTF-8 path", path.display())))?;
    CString::new(s).map_err(|_| LmError::Config(format!("{}: a NUL in the path", path.display())))
}

/// GGUF file types fine-tuning reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ftype {
    /// 32-bit floats: what training works on.
    F32 = sys::LLAMA_FTYPE_ALL_F32 as isize,
    /// 8-bit quantization (about a quarter of F32's size, little loss).
    Q8_0 = sys::LLAMA_FTYPE_MOSTLY_Q8_0 as isize,
    /// 4-bit quantization with a per-block minimum (SmolLM2's shipped type).
    Q4_1 = sys::LLAMA_FTYPE_MOSTLY_Q4_1 as isize,
}

/// Writes `src` as a GGUF of type `ftype` at `dst` (dequantizing or quantizing).
pub(super) fn convert(src: &Path, dst: &Path, ftype: Ftype, threads: i32) -> Result<(), LmError> {
    let (csrc, cdst) = (c_path(src)?, c_path(dst)?);
    // SAFETY: plain data; the defaults come from llama.cpp.
    let mut params = unsafe { sys::llama_model_quantize_default_params() };
    params.nthread = threads;
    params.ftype = ftype as sys::llama_ftype;
    params.allow_requantize = true;
    // SAFETY: both paths are NUL-terminated and outlive the call; `params` is valid.
    let rc = unsafe { sys::llama_model_quantize(csrc.as_ptr(), cdst.as_ptr(), &params) };
    if rc != 0 {
        return Err(LmError::Other(format!(
            "llama.cpp could not convert {} to {ftype:?} (code {rc})",
            src.display()
        )));
    }
    Ok(())
}

/// A GGUF file's metadata, read without its tensors (and the ggml context describing them).
pub(super) struct GgufMeta {
    gguf: NonNull<sys::gguf_context>,
    /// Tensor descriptions (no data), when opened with them.
    ctx: *mut sys::ggml_context,
}

impl GgufMeta {
    pub fn open(path: &Path) -> Result<GgufMeta, LmError> {
        Self::open_inner(path, false)
    }

    fn open_inner(path: &Path, with_tensors: bool) -> Result<GgufMeta, LmError> {
        let cpath = c_path(path)?;
        let mut ctx: *mut sys::ggml_context = std::ptr::null_mut();
        let params = sys::gguf_init_params {
            no_alloc: true,
            ctx: if with_tensors {
                &mut ctx
            } else {
                std::ptr::null_mut()
            },
        };
        // SAFETY: the path outlives the call; no tensor data is read.
        let ptr = unsafe { sys::gguf_init_from_file(cpath.as_ptr(), params) };
        match NonNull::new(ptr) {
            Some(gguf) => Ok(GgufMeta { gguf, ctx }),
            None => Err(LmError::Config(format!(
                "{}: not a readable GGUF file",
                path.display()
            ))),
        }
    }

    fn key(&self, key: &str) -> Option<i64> {
        let ckey = CString::new(key).ok()?;
        // SAFETY: the context is alive; the key outlives the call.
        let id = unsafe { sys::gguf_find_key(self.gguf.as_ptr(), ckey.as_ptr()) };
        (id >= 0).then_some(id)
    }

    fn kv_type(&self, id: i64) -> sys::gguf_type {
        // SAFETY: the context is alive and `id` came from it.
        unsafe { sys::gguf_get_kv_type(self.gguf.as_ptr(), id) }
    }

    pub fn string(&self, key: &str) -> Option<String> {
        let id = self.key(key)?;
        if self.kv_type(id) != sys::GGUF_TYPE_STRING {
            return None;
        }
        // SAFETY: the context is alive; the type was checked.
        unsafe {
            let s = sys::gguf_get_val_str(self.gguf.as_ptr(), id);
            (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
        }
    }

    pub fn u32(&self, key: &str) -> Option<u32> {
        let id = self.key(key)?;
        // SAFETY: the context is alive; the type is checked before reading.
        (self.kv_type(id) == sys::GGUF_TYPE_UINT32)
            .then(|| unsafe { sys::gguf_get_val_u32(self.gguf.as_ptr(), id) })
    }

    pub fn f32(&self, key: &str) -> Option<f32> {
        let id = self.key(key)?;
        // SAFETY: the context is alive; the type is checked before reading.
        (self.kv_type(id) == sys::GGUF_TYPE_FLOAT32)
            .then(|| unsafe { sys::gguf_get_val_f32(self.gguf.as_ptr(), id) })
    }
}

impl Drop for GgufMeta {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe {
            if !self.ctx.is_null() {
                sys::ggml_free(self.ctx);
            }
            sys::gguf_free(self.gguf.as_ptr());
        }
    }
}

/// One tensor of a loaded model: where its data sits in the file.
pub(super) struct WeightTensor {
    pub name: String,
    pub tensor: *mut sys::ggml_tensor,
    offset: u64,
    nbytes: usize,
}

/// An F32 GGUF model's weights in a ggml CPU buffer, with the metadata they were read from.
pub(super) struct Weights {
    pub meta: GgufMeta,
    buffer: NonNull<sys::ggml_backend_buffer>,
    pub tensors: Vec<WeightTensor>,
}

impl Weights {
    /// Reads every tensor of the F32 GGUF at `path` into memory.
    pub fn load(path: &Path) -> Result<Weights, LmError> {
        let meta = GgufMeta::open_inner(path, true)?;
        if meta.ctx.is_null() {
            return Err(LmError::Config(format!(
                "{}: the GGUF describes no tensors",
                path.display()
            )));
        }
        // SAFETY: `meta.ctx` holds tensor descriptions without data; the buffer allocates them
        // all on the CPU and lives in `Weights` beside the context.
        let buffer = unsafe {
            sys::ggml_backend_alloc_ctx_tensors_from_buft(
                meta.ctx,
                sys::ggml_backend_cpu_buffer_type(),
            )
        };
        let buffer = NonNull::new(buffer).ok_or_else(|| {
            LmError::Other(format!("cannot allocate the weights of {}", path.display()))
        })?;
        let mut weights = Weights {
            meta,
            buffer,
            tensors: Vec::new(),
        };
        let g = weights.meta.gguf.as_ptr();
        let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
        // SAFETY: the gguf and ggml contexts are alive; names are NUL-terminated C strings
        // owned by the gguf context; each tensor's data is written within its `nbytes`.
        unsafe {
            let data_offset = sys::gguf_get_data_offset(g) as u64;
            for i in 0..sys::gguf_get_n_tensors(g) {
                let cname = sys::gguf_get_tensor_name(g, i);
                let t = sys::ggml_get_tensor(weights.meta.ctx, cname);
                if t.is_null() {
                    return Err(LmError::Config(format!(
                        "{}: a tensor is missing",
                        path.display()
                    )));
                }
                let name = CStr::from_ptr(cname).to_string_lossy().into_owned();
                if (*t).type_ != sys::GGML_TYPE_F32 {
                    return Err(LmError::Config(format!(
                        "{}: tensor `{name}` is not F32 (convert the model to F32 to train it)",
                        path.display()
                    )));
                }
                let offset = data_offset + sys::gguf_get_tensor_offset(g, i) as u64;
                let nbytes = sys::ggml_nbytes(t);
                if offset + nbytes as u64 > file_len {
                    return Err(LmError::Config(format!(
                        "{}: tensor `{name}` runs past the end of the file (truncated?)",
                        path.display()
                    )));
                }
                let mut bytes = vec![0u8; nbytes];
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read_exact(&mut bytes))
                    .map_err(|e| io_error(path, e))?;
                sys::ggml_backend_tensor_set(t, bytes.as_ptr().cast(), 0, nbytes);
                weights.tensors.push(WeightTensor {
                    name,
                    tensor: t,
                    offset,
                    nbytes,
                });
            }
        }
        Ok(weights)
    }

    /// The tensor named `name`, if the model has it.
    pub fn get(&self, name: &str) -> Option<*mut sys::ggml_tensor> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.tensor)
    }

    /// Writes the weights as they are now into `dst`, a copy of the file they were loaded
    /// from (same layout: only the tensor data changes).
    pub fn save(&self, src: &Path, dst: &Path) -> Result<(), LmError> {
        std::fs::copy(src, dst).map_err(|e| io_error(dst, e))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(dst)
            .map_err(|e| io_error(dst, e))?;
        let mut bytes = Vec::new();
        for t in &self.tensors {
            bytes.resize(t.nbytes, 0);
            // SAFETY: the tensor is alive in this buffer and holds `nbytes` bytes.
            unsafe {
                sys::ggml_backend_tensor_get(t.tensor, bytes.as_mut_ptr().cast(), 0, t.nbytes)
            };
            file.seek(SeekFrom::Start(t.offset))
                .and_then(|_| file.write_all(&bytes))
                .map_err(|e| io_error(dst, e))?;
        }
        file.sync_all().map_err(|e| io_error(dst, e))
    }
}

impl Drop for Weights {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; `meta` (the context the tensors live in) drops after.
        unsafe { sys::ggml_backend_buffer_free(self.buffer.as_ptr()) }
    }
}

pub(super) fn io_error(path: &Path, e: std::io::Error) -> LmError {
    LmError::Other(format!("{}: {e}", path.display()))
}
