// Embedding-bag binding: lookups over tables the caller owns (any ArrayBuffer or SharedArrayBuffer
// view, never copied) or files mapped read-only (MappedFile), one table or many in one call.
//
// Every request of a call is validated before any output is written: a bad index, offset or
// length throws a RangeError naming the lookup, the bag and the position, and leaves every output
// untouched. The kernels then run on (request, bag range) work items across the threads.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/embedding/embedding.h"
#include "napi/args.h"
#include "napi/call.h"
#include "cpu/owned_memory.h"
#include "napi/exports.h"

#if defined(_WIN32)
#define NOMINMAX
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace lowbit {
namespace napi {
namespace {

namespace emb = embedding;

// Why opening or mapping a file failed, thrown as a RangeError (the path names no usable table)
// with code ERR_LOWBIT_FILE and Node's fs-style fields: errno (the name, e.g. 'ENOENT'), syscall
// and path.
struct FileError {
  std::string syscall, path, errno_name, what;
  void set(const char* call, int err, const std::string& p, const char* detail = nullptr) {
    syscall = call;
    path = p;
    errno_name = name_of(err);
    what = detail ? detail : std::strerror(err);
  }
  static std::string name_of(int err) {
    switch (err) {
      case ENOENT: return "ENOENT";
      case EACCES: return "EACCES";
      case EPERM: return "EPERM";
      case EISDIR: return "EISDIR";
      case ENOTDIR: return "ENOTDIR";
      case ELOOP: return "ELOOP";
      case ENAMETOOLONG: return "ENAMETOOLONG";
      case EMFILE: return "EMFILE";
      case ENFILE: return "ENFILE";
      case ENOMEM: return "ENOMEM";
      case EINVAL: return "EINVAL";
      case ENODEV: return "ENODEV";
      case ENXIO: return "ENXIO";
      case EOVERFLOW: return "EOVERFLOW";
      case EIO: return "EIO";
      default: return "E" + std::to_string(err);
    }
  }
  [[noreturn]] void throw_js(Napi::Env env) const {
    Napi::Error err = Napi::RangeError::New(env, "cannot open " + path + ": " + what + " (" + errno_name + ", " + syscall + ")");
    err.Set("code", Napi::String::New(env, "ERR_LOWBIT_FILE"));
    err.Set("errno", Napi::String::New(env, errno_name));
    err.Set("syscall", Napi::String::New(env, syscall));
    err.Set("path", Napi::String::New(env, path));
    throw err;
  }
};

// A read-only mapping of a whole file. Shared by the JS object and every call in flight, so
// close() (or GC) while a Promise is pending cannot unmap memory a worker still reads.
class Mapping {
 public:
  // lowbit keeps its own mappings well under the kernel's per-process limit (vm.max_map_count,
  // 65530 by default): past it every mmap fails, V8's and malloc's too, and the process dies of
  // an allocation failure far from the cause. A caller that opens tables without closing them
  // (and without letting the GC run) gets EMFILE from open instead.
  static size_t limit() {
    static const size_t n = [] {
      size_t max_maps = 65530;
#if defined(__linux__)
      if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        unsigned long v = 0;
        if (std::fscanf(f, "%lu", &v) == 1 && v > 0) max_maps = v;
        std::fclose(f);
      }
#endif
      return std::max<size_t>(64, max_maps / 4);
    }();
    return n;
  }
  static std::atomic<size_t>& live() {
    static std::atomic<size_t> n{0};
    return n;
  }
  static std::shared_ptr<Mapping> open(const std::string& path, FileError* error) {
    if (live().load() >= limit()) {
      error->set("mmap", EMFILE, path, "too many mapped tables are open in this process (close() the ones no longer used)");
      return nullptr;
    }
    auto m = std::shared_ptr<Mapping>(new Mapping());
#if defined(_WIN32)
    HANDLE f = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (f == INVALID_HANDLE_VALUE) {
      error->set("open", ENOENT, path);
      return nullptr;
    }
    LARGE_INTEGER size;
    GetFileSizeEx(f, &size);
    m->size_ = (size_t)size.QuadPart;
    if (m->size_ > 0) {
      HANDLE map = CreateFileMappingA(f, nullptr, PAGE_READONLY, 0, 0, nullptr);
      m->data_ = map ? static_cast<const uint8_t*>(MapViewOfFile(map, FILE_MAP_READ, 0, 0, 0)) : nullptr;
      if (map) CloseHandle(map);
    }
    CloseHandle(f);
#else
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below, as every file
    // that is not a regular file: a mapping of a device or a pipe is not a table)
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      error->set("open", errno, path);
      return nullptr;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      error->set("fstat", errno, path);
      ::close(fd);
      return nullptr;
    }
    if (!S_ISREG(st.st_mode)) {
      error->set("open", S_ISDIR(st.st_mode) ? EISDIR : EINVAL, path,
                 S_ISDIR(st.st_mode) ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file"
                 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "is a device, not a regular file" : "is not a regular file");
      ::close(fd);
      return nullptr;
    }
    m->size_ = (size_t)st.st_size;
    if (m->size_ > 0) {
      void* p = mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        error->set("mmap", errno, path);
        ::close(fd);
        return nullptr;
      }
      m->data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
#endif
    if (m->size_ > 0 && m->data_ == nullptr) {
      error->set("mmap", EINVAL, path);
      return nullptr;
    }
    return m;
  }
  ~Mapping() {
    live()--;
    if (!data_) return;
#if defined(_WIN32)
    UnmapViewOfFile(data_);
#else
    munmap(const_cast<uint8_t*>(data_), size_);
#endif
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Mapping() { live()++; }
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class MappedFile : public Napi::ObjectWrap<MappedFile> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MappedFile",
                       {InstanceAccessor<&MappedFile::Size>("byteLength"), InstanceMethod<&MappedFile::Close>("close")});
  }
  explicit MappedFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappedFile>(info) {
    if (!info[0].IsString()) throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", "path must be a string, got " + describe(info.Env(), info[0]));
    FileError error;
    mapping_ = Mapping::open(info[0].As<Napi::String>().Utf8Value(), &error);
    if (!mapping_) error.throw_js(info.Env());
  }
  std::shared_ptr<Mapping> mapping() const { return mapping_; }

 private:
  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), mapping_ ? (double)mapping_->size() : 0.0);
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    mapping_.reset();
    return info.Env().Undefined();
  }
  std::shared_ptr<Mapping> mapping_;
};

// The helpers below take the argument's name as (where, field) and join them only when they throw:
// building the names of 15 fields on every call cost ~0.5 us of a ~2.3 us one-row call.
inline std::string field_name(const std::string& where, const char* field) { return where + "." + field; }

int64_t int_field(Napi::Env env, napi_value v, const std::string& where, const char* field, int64_t lo, int64_t hi) {
  napi_valuetype t;
  double d = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", field_name(where, field) + " must be a number, got " + describe(env, v));
  }
  if (!(d == std::floor(d)) || d < (double)lo || d > (double)hi) {
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE",
                      field_name(where, field) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(d));
  }
  return (int64_t)d;
}

std::string describe_status(const emb::Status& s, const std::string& where) {
  std::string msg = where + ": " + emb::error_message(s.error);
  if (s.bag >= 0) msg += " (bag " + std::to_string(s.bag) + ", position " + std::to_string(s.position) + ", value " + std::to_string(s.value) + ")";
  return msg;
}

constexpr uint32_t kFields = 19;
using Fields = std::array<napi_value, kFields>;

// requests: array of lookups, each an array of 15 values, positional so that no property name is
// looked up per call (interning the names cost more than the lookups of a small online request):
//   [0] table: Uint8Array | MappedFile, [1] tableOffset, [2] rows, [3] dim, [4] rowStride, [5] format,
//   [6] remap: Int32Array|null, [7] indices, [8] offsets (or lengths), [9] form,
//   [10] weights: Float32Array|null, [11] pooling, [12] out: Float32Array | Uint16Array (fp16 bits),
//   [13] outOffset, [14] outStride (elements),
//   [15] hot rows of a mixed-precision table: Uint8Array | null, [16] hotRows, [17] hotFormat,
//   [18] its hot index: Uint8Array (embedding.h, Table::hot_index)
//
// Phase 1 reads every field (a getter or a Proxy may run JavaScript here, even detach a buffer);
// phase 2 takes the arrays' memory, with no JavaScript running any more until the call is queued
// or done, through the Call's rules (call.h); validation reads only what the Call gives back.
std::vector<Fields> read_fields(Napi::Env env, napi_value list) {
  bool is = false;
  if (napi_is_array(env, list, &is) != napi_ok || !is) {
    throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", "lookups must be an array, got " + describe(env, list));
  }
  uint32_t n = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_array_length(env, list, &n), {});
  std::vector<Fields> out(n);
  for (uint32_t i = 0; i < n; i++) {
    const std::string where = "lookups[" + std::to_string(i) + "]";
    napi_value item;
    NAPI_THROW_IF_FAILED(env, napi_get_element(env, list, i, &item), {});
    bool arr = false;
    napi_is_array(env, item, &arr);
    if (!arr) throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", where + " must be an array of " + std::to_string(kFields) + " fields, got " + describe(env, item));
    for (uint32_t k = 0; k < kFields; k++) NAPI_THROW_IF_FAILED(env, napi_get_element(env, item, k, &out[i][k]), {});
  }
  return out;
}

// One lookup's memory and fields, through the call; `out` is set once every output is declared.
struct Parsed {
  emb::Request r;
  size_t out_handle = 0;
  int64_t out_offset = 0;
};

Parsed parse(Napi::Env env, const Fields& f, const std::string& where, Call& call) {
  Parsed p;
  emb::Request& r = p.r;
  const uint8_t* base;
  size_t size;
  bool typed = false;
  napi_is_typedarray(env, f[0], &typed);
  Napi::Value t(env, f[0]);
  if (typed) {
    const ArrayArg a = array_arg(env, f[0], {napi_uint8_array}, field_name(where, "table"));
    base = call.table<uint8_t>(a);
    size = a.bytes;
  } else if (t.IsObject() && t.As<Napi::Object>().InstanceOf(env.GetInstanceData<Napi::FunctionReference>()->Value())) {
    std::shared_ptr<Mapping> m = MappedFile::Unwrap(t.As<Napi::Object>())->mapping();
    if (!m) throw_range_error(env, "ERR_LOWBIT_CLOSED", where + ".table was closed");
    base = m->data();
    size = m->size();
    call.guard_file(base, size);
    call.hold(m);
  } else {
    throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", where + ".table must be a Uint8Array or a mapped file, got " + describe(env, f[0]));
  }
  const int64_t offset = int_field(env, f[1], where, "tableOffset", 0, (int64_t)size);
  r.table.rows = int_field(env, f[2], where, "rows", 0, 1ll << 48);
  r.table.dim = int_field(env, f[3], where, "dim", 1, 1 << 24);
  r.table.format = (emb::Format)int_field(env, f[5], where, "format", 0, 4);
  r.table.row_stride = int_field(env, f[4], where, "rowStride", emb::row_bytes(r.table.format, r.table.dim), 1ll << 40);
  const unsigned __int128 need = (unsigned __int128)r.table.rows * (uint64_t)r.table.row_stride;
  if ((unsigned __int128)((uint64_t)size - (uint64_t)offset) < need) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                      where + ".table holds " + std::to_string(size - offset) + " bytes, rows * rowStride needs " +
                          std::to_string((double)need));
  }
  r.table.data = base + offset;
  const ArrayArg remap = optional_array_arg(env, f[6], {napi_int32_array}, field_name(where, "remap"));
  r.table.remap = call.checked<int32_t>(remap);
  r.table.remap_size = (int64_t)remap.length;
  const ArrayArg hot = optional_array_arg(env, f[15], {napi_uint8_array}, field_name(where, "hotRows"));
  if (hot.present()) {
    r.table.hot_rows = int_field(env, f[16], where, "hotRowCount", 1, emb::kMaxHotRows);
    r.table.hot_format = (emb::Format)int_field(env, f[17], where, "hotFormat", 0, 1);
    r.table.hot_stride = emb::row_bytes(r.table.hot_format, r.table.dim);
    if ((unsigned __int128)hot.bytes < (unsigned __int128)r.table.hot_rows * (uint64_t)r.table.hot_stride) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", where + ".hotRows holds " + std::to_string(hot.bytes) + " bytes, fewer than its rows need");
    }
    r.table.hot_data = call.table<uint8_t>(hot);
    const ArrayArg index = array_arg(env, f[18], {napi_uint8_array}, field_name(where, "hotIndex"));
    if ((int64_t)index.bytes < emb::hot_index_bytes(r.table.rows)) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", where + ".hotIndex holds " + std::to_string(index.bytes) + " bytes, the rows need " + std::to_string(emb::hot_index_bytes(r.table.rows)));
    }
    r.table.hot_index = call.table<uint8_t>(index);
  }
  const ArrayArg idx = array_arg(env, f[7], {napi_int32_array, napi_bigint64_array}, field_name(where, "indices"));
  r.bags.indices = call.checked<uint8_t>(idx);
  r.bags.index_type = idx.type == napi_int32_array ? emb::IntType::i32 : emb::IntType::i64;
  r.bags.num_indices = (int64_t)idx.length;
  const ArrayArg off = array_arg(env, f[8], {napi_int32_array, napi_bigint64_array}, field_name(where, "offsets"));
  r.bags.offsets = call.checked<uint8_t>(off);
  r.bags.offset_type = off.type == napi_int32_array ? emb::IntType::i32 : emb::IntType::i64;
  r.bags.form = (emb::BagForm)int_field(env, f[9], where, "form", 0, 2);
  r.bags.num_bags = r.bags.form == emb::BagForm::offsets_include_last ? (int64_t)off.length - 1 : (int64_t)off.length;
  if (r.bags.num_bags < 0) throw_range_error(env, "ERR_LOWBIT_INVALID_OFFSETS", where + ".offsets must hold at least 1 entry with includeLastOffset");
  const ArrayArg w = optional_array_arg(env, f[10], {napi_float32_array}, field_name(where, "perSampleWeights"));
  if (w.present() && w.length != idx.length) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                      where + ".perSampleWeights.length must equal indices.length (" + std::to_string(idx.length) + "), got " + std::to_string(w.length));
  }
  r.bags.weights = call.input<float>(w);
  r.bags.pooling = (emb::Pooling)int_field(env, f[11], where, "pooling", 0, 1);
  // out: a Float32Array (fp32 results) or a Uint16Array (binary16 bits); the element type is
  // the array's, offset and stride count elements
  const ArrayArg o = array_arg(env, f[12], {napi_float32_array, napi_uint16_array}, field_name(where, "out"));
  r.out_type = o.type == napi_uint16_array ? emb::OutType::f16 : emb::OutType::f32;
  p.out_offset = int_field(env, f[13], where, "outOffset", 0, (int64_t)o.length);
  r.out_stride = int_field(env, f[14], where, "outStride", r.table.dim, 1ll << 40);
  const unsigned __int128 out_need =
      r.bags.num_bags == 0 ? 0 : (unsigned __int128)p.out_offset + (unsigned __int128)(r.bags.num_bags - 1) * (uint64_t)r.out_stride + (uint64_t)r.table.dim;
  if (out_need > o.length) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", where + ".out holds " + std::to_string(o.length) + " elements, the bags need " + std::to_string((double)out_need));
  }
  const bool whole = p.out_offset == 0 && r.out_stride == r.table.dim && (uint64_t)r.bags.num_bags * (uint64_t)r.table.dim == o.length;
  p.out_handle = call.output(o, whole);
  return p;
}

// Parses and validates every lookup of a call; nothing is written before all passed.
std::vector<emb::Request> prepare(Napi::Env env, napi_value list, Call& call) {
  const std::vector<Fields> fields = read_fields(env, list);
  std::vector<Parsed> parsed;
  parsed.reserve(fields.size());
  for (size_t i = 0; i < fields.size(); i++) {
    parsed.push_back(parse(env, fields[i], fields.size() == 1 ? std::string("lookup") : "lookups[" + std::to_string(i) + "]", call));
  }
  call.outputs_done();
  std::vector<emb::Request> reqs;
  reqs.reserve(parsed.size());
  for (size_t i = 0; i < parsed.size(); i++) {
    emb::Request r = parsed[i].r;
    r.out = call.out<uint8_t>(parsed[i].out_handle) + parsed[i].out_offset * (r.out_type == emb::OutType::f16 ? 2 : 4);
    const emb::Status s = emb::validate(r);
    if (!s.ok()) {
      const std::string where = parsed.size() == 1 ? std::string("lookup") : "lookups[" + std::to_string(i) + "]";
      const bool structure = s.error != emb::Error::index_negative && s.error != emb::Error::index_out_of_range && s.error != emb::Error::remap_out_of_range;
      throw_range_error(env, structure ? "ERR_LOWBIT_INVALID_OFFSETS" : "ERR_LOWBIT_INDEX_OUT_OF_RANGE", describe_status(s, where));
    }
    reqs.push_back(r);
  }
  return reqs;
}

// Work items of about equal lookup counts: (request, bag range).
struct Item {
  size_t request;
  int64_t begin, end;
};

std::vector<Item> split(const std::vector<emb::Request>& reqs, int threads) {
  int64_t total = 0;
  for (const auto& r : reqs) total += r.bags.num_indices + r.bags.num_bags;
  const int64_t target = std::max<int64_t>(1, total / (threads * 4));
  std::vector<Item> items;
  for (size_t i = 0; i < reqs.size(); i++) {
    const emb::Bags& b = reqs[i].bags;
    if (threads <= 1 || b.num_indices + b.num_bags <= target) {
      if (b.num_bags > 0) items.push_back({i, 0, b.num_bags});
      continue;
    }
    const int64_t per = std::max<int64_t>(1, b.num_bags * target / (b.num_indices + b.num_bags));
    for (int64_t s = 0; s < b.num_bags; s += per) items.push_back({i, s, std::min(b.num_bags, s + per)});
  }
  return items;
}

// embeddingBags(requests: array[], threads, async)
Napi::Value EmbeddingBags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int threads = threads_arg(info, 1);
  const bool async = boolean(info, 2, "async");
  auto call = std::make_unique<Call>(env, async);
  auto reqs = std::make_shared<std::vector<emb::Request>>(prepare(env, info[0], *call));
  const EmbeddingKernels& k = embedding_kernels();
  auto work = [k, reqs, threads] {
    if (reqs->size() == 1 && threads <= 1) {  // the online request: no work list
      if ((*reqs)[0].bags.num_bags > 0) k.embedding_bag((*reqs)[0], 0, (*reqs)[0].bags.num_bags);
      return;
    }
    const std::vector<Item> items = split(*reqs, threads);
    parallel_for(items.size(), threads, [&](size_t i) {
      const Item& it = items[i];
      k.embedding_bag((*reqs)[it.request], it.begin, it.end);
    });
  };
  return Call::run(std::move(call), std::move(work), info[0]);
}

// allocateTable(bytes, hugePages = true) -> ArrayBuffer: zeroed memory for a table lowbit owns (OwnedMemory: its
// own mapping with MADV_HUGEPAGE on Linux for large tables, which is worth up to ~1.5x on random
// lookups in tables much larger than the caches). Async calls hold it while they run.
// Refused with a coded RangeError when the system has no memory for it or Node cannot make an
// ArrayBuffer of that size, never an abort.
Napi::Value AllocateTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = (size_t)integer(info, 0, "bytes", 0, 1ll << 46);
  const bool huge_pages = info.Length() < 2 || info[1].IsUndefined() || boolean(info, 1, "hugePages");
  std::shared_ptr<OwnedMemory> m = OwnedMemory::allocate(bytes, huge_pages);
  if (!m) {
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_MEMORY", "cannot allocate a table of " + std::to_string(bytes) + " bytes: the system refused the memory");
  }
  // The finalizer may run inside napi_create_external_arraybuffer when Node refuses the buffer
  // (Node 20 does for > 4 GiB): `creating` tells it not to free the hint we still use.
  struct Hint {
    std::shared_ptr<OwnedMemory> memory;
    int64_t reported = 0;
    bool creating = true, finalized = false;
  };
  Hint* hint = new Hint{m, (int64_t)m->mapped_bytes()};
  napi_value ab = nullptr;
  const napi_status status = napi_create_external_arraybuffer(
      env, m->data(), bytes,
      [](napi_env e, void*, void* h) {
        Hint* hint = static_cast<Hint*>(h);
        hint->finalized = true;
        if (hint->reported) adjust_external_memory(e, -hint->reported);
        hint->reported = 0;
        hint->memory.reset();
        if (!hint->creating) delete hint;
      },
      hint, &ab);
  hint->creating = false;
  if (status != napi_ok) {
    // a pending JavaScript exception (Node's "buffer too large") is replaced by ours
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    delete hint;
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE",
                      "cannot make an ArrayBuffer of " + std::to_string(bytes) + " bytes in this Node.js (its limit for external buffers; Node 20: 4 GiB)");
  }
  if (hint->finalized) delete hint;
  else adjust_external_memory(env, hint->reported);
  return Napi::Value(env, ab);
}

// adviseHugePages(bytes: Uint8Array) -> 'collapsed' | 'advised' | 'unsupported': asks for 2 MiB pages
// under a table in the caller's memory (an ArrayBuffer V8 allocated in 4 KiB pages). Only the 2 MiB-
// aligned interior can be a huge page. MADV_HUGEPAGE marks it (khugepaged may then merge it, some
// time later, where THP is 'madvise' or 'always'); MADV_COLLAPSE (Linux >= 6.1) merges it now,
// copying every 4 KiB page into a 2 MiB one: the bytes are unchanged, the cost is paid once (measured
// 0.4-0.9 s for 300-500 MiB on the 2-core Zen 3), and warm random lookups in wide rows then miss the
// TLB far less (native/kernels/embedding/README.md). A collapse that fails part-way (no free 2 MiB
// pages: EAGAIN/ENOMEM) leaves the advice in place and reports 'advised'.
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ArrayArg v = array_arg(env, info[0], {napi_uint8_array}, "bytes");
#if defined(__linux__)
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1 (older headers lack it; older kernels answer EINVAL)
#endif
  const uintptr_t huge = (uintptr_t)2 << 20;
  const uintptr_t start = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t begin = (start + huge - 1) & ~(huge - 1), end = (start + v.length) & ~(huge - 1);
  if (v.data && end > begin) {
    void* p = reinterpret_cast<void*>(begin);
    const size_t len = (size_t)(end - begin);
    if (madvise(p, len, MADV_HUGEPAGE) == 0) {
      // EAGAIN is transient (a page still in a per-CPU LRU batch, or busy): measured here, the
      // first try on a freshly filled buffer sometimes fails; a retry only redoes the ranges left
      bool ok = false;
      for (int attempt = 0; attempt < 3 && !ok; attempt++) {
        ok = madvise(p, len, MADV_COLLAPSE) == 0;
        if (!ok && errno != EAGAIN) break;
      }
      return Napi::String::New(env, ok ? "collapsed" : "advised");
    }
  }
#else
  (void)v;
#endif
  return Napi::String::New(env, "unsupported");
}

// quantizeTable(values: Float32Array, rows, dim, format, out: Uint8Array[, nbins, ratio]): with
// nbins and ratio, q4/q2 rows get PyTorch's optimized_qparams range search
Napi::Value QuantizeTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ArrayArg v = array_arg(env, info[0], {napi_float32_array}, "values");
  const int64_t rows = integer(info, 1, "rows", 0, 1ll << 40), dim = integer(info, 2, "dim", 1, 1 << 24);
  const emb::Format f = (emb::Format)integer(info, 3, "format", 0, 4);
  if ((unsigned __int128)v.length != (unsigned __int128)rows * (uint64_t)dim) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "values.length must be rows * dim = " + std::to_string((double)rows * dim) + ", got " + std::to_string(v.length));
  }
  const ArrayArg out = array_arg(env, info[4], {napi_uint8_array}, "out");
  if ((unsigned __int128)out.length != (unsigned __int128)rows * (uint64_t)emb::row_bytes(f, dim)) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "out.length must be rows * rowBytes = " + std::to_string((double)rows * emb::row_bytes(f, dim)));
  }
  emb::QuantizeOptions qo;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    qo.optimized = true;
    qo.nbins = integer(info, 5, "optimizedQParams.nbins", 1, 1 << 20);
    qo.ratio = number(info, 6, "optimizedQParams.ratio");
    if (!(qo.ratio >= 0.0 && qo.ratio <= 1.0)) {
      throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE", "optimizedQParams.ratio must be in [0, 1], got " + std::to_string(qo.ratio));
    }
  }
  auto call = std::make_unique<Call>(env, false);
  const float* vp = call->input<float>(v);
  uint8_t* op = call->single_output<uint8_t>(out, true);
  return Call::run(std::move(call), [=] { emb::quantize_table(f, vp, rows, dim, op, qo); }, info[4]);
}

// dequantizeTable(table: Uint8Array | MappedFile, offset, rows, dim, rowStride, format) -> Float32Array
Napi::Value DequantizeTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = integer(info, 2, "rows", 0, 1ll << 48), dim = integer(info, 3, "dim", 1, 1 << 24);
  if ((unsigned __int128)rows * (uint64_t)dim > (unsigned __int128)(1ull << 32)) {
    throw_range_error(env, "ERR_LOWBIT_OUT_OF_RANGE", "toFloat32: rows * dim = " + std::to_string((double)rows * dim) + " values do not fit one Float32Array (at most 2^32)");
  }
  Napi::Float32Array out = native_section(env, [&] { return Napi::Float32Array::New(env, (size_t)(rows * dim)); });
  // the table as a lookup with no bags, so that it is checked and guarded as lookups are
  Fields f = {info[0], info[1], info[2], info[3], info[4], info[5], env.Null(),
              Napi::Int32Array::New(env, 0), Napi::Int32Array::New(env, 0), Napi::Number::New(env, 0),
              env.Null(), Napi::Number::New(env, 0), out, Napi::Number::New(env, 0), info[3],
              env.Null(), Napi::Number::New(env, 0), Napi::Number::New(env, 0), env.Null()};
  auto call = std::make_unique<Call>(env, false);
  Parsed p = parse(env, f, "table", *call);
  const emb::Table t = p.r.table;
  float* op = call->single_output<float>(array_arg(env, out, {napi_float32_array}, "out"), true);
  return Call::run(std::move(call), [t, op] { emb::dequantize_table(t.format, t.data, t.rows, t.dim, t.row_stride, op); }, out);
}

}  // namespace

void register_embedding(Napi::Env env, Napi::Object exports) {
  Napi::Function mapped = MappedFile::Define(env);
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(mapped));
  env.SetInstanceData<Napi::FunctionReference>(ctor);
  exports.Set("MappedFile", mapped);
  exports.Set("embeddingBags", Napi::Function::New(env, EmbeddingBags, "embeddingBags"));
  exports.Set("quantizeTable", Napi::Function::New(env, QuantizeTable, "quantizeTable"));
  exports.Set("allocateTable", Napi::Function::New(env, AllocateTable, "allocateTable"));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages, "adviseHugePages"));
  exports.Set("dequantizeTable", Napi::Function::New(env, DequantizeTable, "dequantizeTable"));
}

}  // namespace napi
}  // namespace lowbit
