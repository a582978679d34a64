// Embedding-bag binding: lookups over tables the caller owns (any ArrayBuffer or SharedArrayBuffer
// view, never copied) or files mapped read-only (MappedFile), one table or many in one call.
//
// Every request of a call is validated before any output is written: a bad index, offset or
// length throws a RangeError naming the lookup, the bag and the position, and leaves every output
// untouched. The kernels then run on (request, bag range) work items across the threads.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/parallel.h"
#include "kernels/embedding/embedding.h"
#include "napi/args.h"
#include "napi/async.h"
#include "napi/exports.h"

#if defined(_WIN32)
#define NOMINMAX
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace lowbit {
namespace napi {
namespace {

namespace emb = embedding;

// A read-only mapping of a whole file. Shared by the JS object and every call in flight, so
// close() (or GC) while a Promise is pending cannot unmap memory a worker still reads.
class Mapping {
 public:
  static std::shared_ptr<Mapping> open(const std::string& path, std::string* error) {
    auto m = std::shared_ptr<Mapping>(new Mapping());
#if defined(_WIN32)
    HANDLE f = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (f == INVALID_HANDLE_VALUE) {
      *error = "cannot open " + path;
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
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      *error = "cannot open " + path;
      return nullptr;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      *error = "cannot stat " + path;
      return nullptr;
    }
    m->size_ = (size_t)st.st_size;
    if (m->size_ > 0) {
      void* p = mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
      m->data_ = p == MAP_FAILED ? nullptr : static_cast<const uint8_t*>(p);
    }
    ::close(fd);
#endif
    if (m->size_ > 0 && m->data_ == nullptr) {
      *error = "cannot map " + path;
      return nullptr;
    }
    return m;
  }
  ~Mapping() {
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
  Mapping() = default;
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
    if (!info[0].IsString()) throw_type_error(info.Env(), "ERR_LOWBIT_INVALID_TYPE", "path must be a string, got " + describe(info[0]));
    std::string error;
    mapping_ = Mapping::open(info[0].As<Napi::String>().Utf8Value(), &error);
    if (!mapping_) throw_range_error(info.Env(), "ERR_LOWBIT_INVALID_ARGUMENT", error);
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

struct Prepared {
  std::vector<emb::Request> requests;
  std::vector<std::shared_ptr<Mapping>> mappings;  // kept alive for the call
  std::vector<Napi::Value> keep;                   // JS values to keep alive (async)
};

// The helpers below take the argument's name as (where, field) and join them only when they throw:
// building the names of 15 fields on every call cost ~0.5 us of a ~2.3 us one-row call.
inline std::string field_name(const std::string& where, const char* field) { return where + "." + field; }

template <typename T>
const T* optional_array(const Napi::Object& o, uint32_t key, const std::string& where, const char* field, size_t* length) {
  Napi::Value v = o.Get(key);
  if (v.IsNull() || v.IsUndefined()) {
    *length = 0;
    return nullptr;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTraits<T>::type) {
    throw_type_error(o.Env(), "ERR_LOWBIT_INVALID_TYPE", field_name(where, field) + " must be a " + TypedArrayTraits<T>::name + ", got " + describe(v));
  }
  const RawView r = raw_view(o.Env(), v);
  if (r.detached) throw_type_error(o.Env(), "ERR_LOWBIT_DETACHED", field_name(where, field) + " is backed by a detached ArrayBuffer");
  *length = r.length;
  return static_cast<const T*>(r.data);
}

// An Int32Array or BigInt64Array: pointer, element type, length.
const void* int_array(const Napi::Object& o, uint32_t key, const std::string& where, const char* field, emb::IntType* type, size_t* length, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsNull() || v.IsUndefined())) {
    *length = 0;
    return nullptr;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_int32_array || ta.TypedArrayType() == napi_bigint64_array) {
      const RawView r = raw_view(o.Env(), v);
      if (r.detached) throw_type_error(o.Env(), "ERR_LOWBIT_DETACHED", field_name(where, field) + " is backed by a detached ArrayBuffer");
      *type = ta.TypedArrayType() == napi_int32_array ? emb::IntType::i32 : emb::IntType::i64;
      *length = r.length;
      return r.data;
    }
  }
  throw_type_error(o.Env(), "ERR_LOWBIT_INVALID_TYPE", field_name(where, field) + " must be an Int32Array or BigInt64Array, got " + describe(v));
}

int64_t int_field(const Napi::Object& o, uint32_t key, const std::string& where, const char* field, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_type_error(o.Env(), "ERR_LOWBIT_INVALID_TYPE", field_name(where, field) + " must be a number, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < (double)lo || d > (double)hi) {
    throw_range_error(o.Env(), "ERR_LOWBIT_OUT_OF_RANGE",
                      field_name(where, field) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(d));
  }
  return (int64_t)d;
}

std::string describe_status(const emb::Status& s, const std::string& where) {
  std::string msg = where + ": " + emb::error_message(s.error);
  if (s.bag >= 0) msg += " (bag " + std::to_string(s.bag) + ", position " + std::to_string(s.position) + ", value " + std::to_string(s.value) + ")";
  return msg;
}

// requests: array of lookups, each an array of 15 values, positional so that no property name is
// looked up per call (interning the names cost more than the lookups of a small online request):
//   [0] table: Uint8Array | MappedFile, [1] tableOffset, [2] rows, [3] dim, [4] rowStride, [5] format,
//   [6] remap: Int32Array|null, [7] indices, [8] offsets (or lengths), [9] form,
//   [10] weights: Float32Array|null, [11] pooling, [12] out: Float32Array | Uint16Array (fp16 bits),
//   [13] outOffset, [14] outStride (elements)
Prepared prepare(Napi::Env env, const Napi::Array& list) {
  Prepared p;
  for (uint32_t i = 0; i < list.Length(); i++) {
    const std::string where = list.Length() == 1 ? std::string("lookup") : "lookups[" + std::to_string(i) + "]";
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", where + " must be an object");
    Napi::Object o = item.As<Napi::Object>();
    emb::Request r;
    // table bytes
    Napi::Value t = o.Get(0u);
    const uint8_t* base;
    size_t size;
    if (t.IsTypedArray() && t.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      const RawView r = raw_view(env, t);
      if (r.detached) throw_type_error(env, "ERR_LOWBIT_DETACHED", where + ".table is backed by a detached ArrayBuffer");
      base = static_cast<const uint8_t*>(r.data);
      size = r.length;
    } else if (t.IsObject() && t.As<Napi::Object>().InstanceOf(env.GetInstanceData<Napi::FunctionReference>()->Value())) {
      std::shared_ptr<Mapping> m = MappedFile::Unwrap(t.As<Napi::Object>())->mapping();
      if (!m) throw_range_error(env, "ERR_LOWBIT_CLOSED", where + ".table was closed");
      base = m->data();
      size = m->size();
      p.mappings.push_back(m);
    } else {
      throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", where + ".table must be a Uint8Array or a mapped file, got " + describe(t));
    }
    const int64_t offset = int_field(o, 1u, where, "tableOffset", 0, (int64_t)size);
    r.table.rows = int_field(o, 2u, where, "rows", 0, 1ll << 48);
    r.table.dim = int_field(o, 3u, where, "dim", 1, 1 << 24);
    r.table.format = (emb::Format)int_field(o, 5u, where, "format", 0, 4);
    r.table.row_stride = int_field(o, 4u, where, "rowStride", emb::row_bytes(r.table.format, r.table.dim), 1ll << 40);
    const uint64_t need = (uint64_t)r.table.rows * (uint64_t)r.table.row_stride;
    if ((uint64_t)size - (uint64_t)offset < need) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                        where + ".table holds " + std::to_string(size - offset) + " bytes, rows * rowStride needs " + std::to_string(need));
    }
    r.table.data = base + offset;
    size_t remap_len;
    r.table.remap = optional_array<int32_t>(o, 6u, where, "remap", &remap_len);
    r.table.remap_size = (int64_t)remap_len;
    size_t n_idx, n_off, n_w;
    r.bags.indices = int_array(o, 7u, where, "indices", &r.bags.index_type, &n_idx, false);
    r.bags.num_indices = (int64_t)n_idx;
    r.bags.offsets = int_array(o, 8u, where, "offsets", &r.bags.offset_type, &n_off, false);
    r.bags.form = (emb::BagForm)int_field(o, 9u, where, "form", 0, 2);
    r.bags.num_bags = r.bags.form == emb::BagForm::offsets_include_last ? (int64_t)n_off - 1 : (int64_t)n_off;
    if (r.bags.num_bags < 0) throw_range_error(env, "ERR_LOWBIT_INVALID_OFFSETS", where + ".offsets must hold at least 1 entry with includeLastOffset");
    r.bags.weights = optional_array<float>(o, 10u, where, "weights", &n_w);
    if (r.bags.weights && n_w != n_idx) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH",
                        where + ".perSampleWeights.length must equal indices.length (" + std::to_string(n_idx) + "), got " + std::to_string(n_w));
    }
    r.bags.pooling = (emb::Pooling)int_field(o, 11u, where, "pooling", 0, 1);
    // out: a Float32Array (fp32 results) or a Uint16Array (binary16 bits); the element type is
    // the array's, offset and stride count elements
    Napi::Value ov = o.Get(12u);
    const napi_typedarray_type ot = ov.IsTypedArray() ? ov.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    if (ot != napi_float32_array && ot != napi_uint16_array) {
      throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", where + ".out must be a Float32Array or Uint16Array, got " + describe(ov));
    }
    const RawView ow = raw_view(env, ov);
    if (ow.detached) throw_type_error(env, "ERR_LOWBIT_DETACHED", where + ".out is backed by a detached ArrayBuffer");
    const size_t n_out = ow.length;
    r.out_type = ot == napi_uint16_array ? emb::OutType::f16 : emb::OutType::f32;
    const int64_t out_offset = int_field(o, 13u, where, "outOffset", 0, (int64_t)n_out);
    r.out_stride = int_field(o, 14u, where, "outStride", r.table.dim, 1ll << 40);
    const uint64_t out_need = r.bags.num_bags == 0 ? 0 : (uint64_t)out_offset + (uint64_t)(r.bags.num_bags - 1) * r.out_stride + r.table.dim;
    if (out_need > n_out) {
      throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", where + ".out holds " + std::to_string(n_out) + " elements, the bags need " + std::to_string(out_need));
    }
    r.out = ow.data ? static_cast<uint8_t*>(ow.data) + out_offset * (r.out_type == emb::OutType::f16 ? 2 : 4) : nullptr;
    const emb::Status s = emb::validate(r);
    if (!s.ok()) {
      const bool structure = s.error != emb::Error::index_negative && s.error != emb::Error::index_out_of_range && s.error != emb::Error::remap_out_of_range;
      throw_range_error(env, structure ? "ERR_LOWBIT_INVALID_OFFSETS" : "ERR_LOWBIT_INDEX_OUT_OF_RANGE", describe_status(s, where));
    }
    p.requests.push_back(r);
    p.keep.push_back(o);
  }
  return p;
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

// embeddingBags(requests: object[], threads, async)
Napi::Value EmbeddingBags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type_error(env, "ERR_LOWBIT_INVALID_TYPE", "lookups must be an array, got " + describe(info[0]));
  const int threads = (int)integer(info, 1, "threads", 1, 256);
  const bool async = boolean(info, 2, "async");
  auto prepared = std::make_shared<Prepared>(prepare(env, info[0].As<Napi::Array>()));
  const EmbeddingKernels& k = embedding_kernels();
  std::vector<Napi::Value> keep = prepared->keep;
  keep.push_back(info[0]);
  auto work = [k, prepared, threads] {
    const std::vector<Item> items = split(prepared->requests, threads);
    parallel_for(items.size(), threads, [&](size_t i) {
      const Item& it = items[i];
      k.embedding_bag(prepared->requests[it.request], it.begin, it.end);
    });
  };
  prepared->keep.clear();
  return run_or_queue(env, async, std::move(work), keep, info[0]);
}

// allocateTable(bytes) -> ArrayBuffer: zeroed memory for a table lowbit owns. On Linux it is its
// own mapping with MADV_HUGEPAGE: random row lookups then miss the TLB far less (2 MiB pages), which
// is worth up to ~1.5x on tables much larger than the caches. Elsewhere a plain ArrayBuffer.
Napi::Value AllocateTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = (size_t)integer(info, 0, "bytes", 0, 1ll << 46);
#if defined(__linux__)
  if (bytes >= (4u << 20)) {
    const size_t huge = 2u << 20;
    const size_t len = (bytes + huge - 1) / huge * huge;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      madvise(p, len, MADV_HUGEPAGE);
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
          env, p, bytes, [](Napi::Env e, void* data, size_t* size) {
            Napi::MemoryManagement::AdjustExternalMemory(e, -(int64_t)*size);
            munmap(data, *size);
            delete size;
          },
          new size_t(len));
      Napi::MemoryManagement::AdjustExternalMemory(env, (int64_t)len);
      return ab;
    }
  }
#endif
  return Napi::ArrayBuffer::New(env, bytes);
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
  const View<uint8_t> v = typed_array<uint8_t>(info, 0, "bytes");
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

// quantizeTable(values: Float32Array, rows, dim, format, out: Uint8Array)
Napi::Value QuantizeTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const View<float> v = typed_array<float>(info, 0, "values");
  const int64_t rows = integer(info, 1, "rows", 0, 1ll << 40), dim = integer(info, 2, "dim", 1, 1 << 24);
  const emb::Format f = (emb::Format)integer(info, 3, "format", 0, 4);
  if ((int64_t)v.length != rows * dim) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "values.length must be rows * dim = " + std::to_string(rows * dim) + ", got " + std::to_string(v.length));
  }
  const View<uint8_t> out = typed_array<uint8_t>(info, 4, "out");
  if ((int64_t)out.length != rows * emb::row_bytes(f, dim)) {
    throw_range_error(env, "ERR_LOWBIT_LENGTH_MISMATCH", "out.length must be rows * rowBytes = " + std::to_string(rows * emb::row_bytes(f, dim)));
  }
  emb::quantize_table(f, v.data, rows, dim, out.data);
  return info[4];
}

// dequantizeTable(table: Uint8Array | MappedFile, offset, rows, dim, rowStride, format) -> Float32Array
Napi::Value DequantizeTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array req = Napi::Array::New(env, 15);
  const Napi::Value fields[15] = {info[0], info[1], info[2], info[3], info[4], info[5], env.Null(),
                                  Napi::Int32Array::New(env, 0), Napi::Int32Array::New(env, 0), Napi::Number::New(env, 0),
                                  env.Null(), Napi::Number::New(env, 0), Napi::Float32Array::New(env, 0),
                                  Napi::Number::New(env, 0), info[3]};
  for (uint32_t i = 0; i < 15; i++) req.Set(i, fields[i]);
  Napi::Array list = Napi::Array::New(env, 1);
  list.Set(0u, req);
  Prepared p = prepare(env, list);
  const emb::Table& t = p.requests[0].table;
  Napi::Float32Array out = Napi::Float32Array::New(env, (size_t)(t.rows * t.dim));
  emb::dequantize_table(t.format, t.data, t.rows, t.dim, t.row_stride, out.Data());
  return out;
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
