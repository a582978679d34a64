#include "napi/call.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "cpu/owned_memory.h"

namespace lowbit {
namespace napi {

size_t element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;
  }
}

const char* type_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

std::string describe(napi_env env, napi_value v) {
  bool is = false;
  if (v == nullptr) return "undefined";
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    size_t len;
    if (napi_get_typedarray_info(env, v, &t, &len, nullptr, nullptr, nullptr) == napi_ok) return type_name(t);
  }
  if (napi_is_array(env, v, &is) == napi_ok && is) return "Array";
  napi_valuetype vt;
  if (napi_typeof(env, v, &vt) != napi_ok) return "value";
  switch (vt) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_bigint: return "bigint";
    case napi_function: return "function";
    case napi_symbol: return "symbol";
    default: return "object";
  }
}

ArrayArg array_arg(napi_env env, napi_value v, std::initializer_list<napi_typedarray_type> types, const std::string& what) {
  ArrayArg a;
  napi_typedarray_type t = napi_int8_array;
  size_t len = 0, offset = 0;
  void* data = nullptr;
  napi_value ab = nullptr;
  // (napi_get_typedarray_info refuses anything that is not a TypedArray: no separate check)
  if (v != nullptr && napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &offset) == napi_ok &&
      std::find(types.begin(), types.end(), t) != types.end()) {
    bool plain = false;
    napi_is_arraybuffer(env, ab, &plain);  // false for a SharedArrayBuffer
    bool detached = false;
    if (plain) napi_is_detached_arraybuffer(env, ab, &detached);
    if (detached) throw_type_error(Napi::Env(env), "ERR_LOWBIT_DETACHED", what + " is backed by a detached ArrayBuffer");
    a.value = v;
    a.type = t;
    a.data = static_cast<uint8_t*>(data);
    a.length = len;
    a.bytes = len * element_size(t);
    a.shared = !plain;
    return a;
  }
  std::string want;
  for (napi_typedarray_type w : types) want += std::string(want.empty() ? "" : " or ") + type_name(w);
  throw_type_error(Napi::Env(env), "ERR_LOWBIT_INVALID_TYPE", what + " must be a " + want + ", got " + describe(env, v));
}

ArrayArg optional_array_arg(napi_env env, napi_value v, std::initializer_list<napi_typedarray_type> types, const std::string& what) {
  napi_valuetype vt = napi_undefined;
  if (v == nullptr || (napi_typeof(env, v, &vt) == napi_ok && (vt == napi_null || vt == napi_undefined))) return ArrayArg{};
  return array_arg(env, v, types, what);
}

void adjust_external_memory(napi_env env, int64_t change) {
  int64_t total;
  napi_adjust_external_memory(env, change, &total);
}

Call::~Call() {
  for (napi_ref r : refs_) napi_delete_reference(env_, r);
  for (Output& o : outputs_)
    if (o.ref) napi_delete_reference(env_, o.ref);
  for (JsTable& t : js_tables_) napi_delete_reference(env_, t.ref);
}

napi_ref Call::ref(napi_value v) {
  napi_ref r = nullptr;
  if (napi_create_reference(env_, v, 1, &r) != napi_ok) {
    throw_range_error(Napi::Env(env_), "ERR_LOWBIT_INTERNAL", "cannot hold an argument for the call");
  }
  return r;
}

void Call::keep(napi_value v) {
  if (!async_ || v == nullptr) return;
  napi_valuetype t;
  if (napi_typeof(env_, v, &t) != napi_ok || (t != napi_object && t != napi_function)) return;
  refs_.push_back(ref(v));
}

bool Call::held(const ArrayArg& a) {
  if (a.shared) {
    refs_.push_back(ref(a.value));  // the view keeps its SharedArrayBuffer, which cannot shrink
    return true;
  }
  if (std::shared_ptr<OwnedMemory> m = OwnedMemory::find(a.data, a.bytes)) {
    holds_.push_back(std::move(m));
    return true;
  }
  return false;
}

const uint8_t* Call::copy(const ArrayArg& a) {
  PooledBuffer buf(a.bytes);
  if (a.bytes) std::memcpy(buf.get(), a.data, a.bytes);
  copies_.push_back(std::move(buf));
  return copies_.back().get();
}

const uint8_t* Call::input_bytes(const ArrayArg& a, bool checked) {
  if (!a.present()) return nullptr;
  if (checked) return (a.shared || async_) ? copy(a) : a.data;
  if (!async_ || held(a)) return a.data;
  return copy(a);
}

const uint8_t* Call::table_bytes(const ArrayArg& a) {
  if (!a.present()) return nullptr;
  if (!async_ || held(a)) return a.data;
  js_tables_.push_back(JsTable{ref(a.value), reinterpret_cast<uintptr_t>(a.data), a.length});
  scope_.add(a.data, a.bytes);
  return a.data;
}

void Call::guard_file(const void* p, size_t bytes) {
  scope_.add(p, bytes);
  const uintptr_t b = reinterpret_cast<uintptr_t>(p);
  files_.push_back(fault::Range{b, b + bytes});
}

size_t Call::output(const ArrayArg& a, bool whole) {
  Output o;
  o.user = reinterpret_cast<uintptr_t>(a.data);
  o.bytes = a.bytes;
  o.length = a.length;
  o.whole = whole;
  o.ptr = a.data;
  if (async_ && !held(a)) {
    o.staged = true;
    o.ref = ref(a.value);
  }
  outputs_.push_back(o);
  return outputs_.size() - 1;
}

void Call::outputs_done() {
  outputs_sealed_ = true;
  // Staged outputs that overlap (views of one buffer, e.g. bags of several tables written into
  // the columns of one array) share one span, so that copying back one never undoes another.
  std::vector<size_t> order;
  for (size_t i = 0; i < outputs_.size(); i++)
    if (outputs_[i].staged) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return outputs_[x].user < outputs_[y].user; });
  std::vector<std::vector<size_t>> members;
  for (size_t i : order) {
    const Output& o = outputs_[i];
    if (!spans_.empty() && o.user < spans_.back().end) {
      spans_.back().end = std::max(spans_.back().end, o.user + o.bytes);
      members.back().push_back(i);
    } else {
      spans_.push_back(Span{o.user, o.user + o.bytes, PooledBuffer()});
      members.push_back({i});
    }
  }
  for (size_t s = 0; s < spans_.size(); s++) {
    Span& sp = spans_[s];
    const size_t n = sp.end - sp.begin;
    sp.buf = PooledBuffer(n);
    bool fill = members[s].size() > 1;
    for (size_t i : members[s]) fill = fill || !outputs_[i].whole;
    if (fill && n) std::memcpy(sp.buf.get(), reinterpret_cast<const void*>(sp.begin), n);
    for (size_t i : members[s]) outputs_[i].ptr = sp.buf.get() + (outputs_[i].user - sp.begin);
  }
}

bool Call::execute(const std::function<void()>& work, KernelError* error) {
  try {
    fault::ActiveScope active(&scope_);
    fault::run_guarded(work);
  } catch (const KernelError& e) {
    *error = e;
    return false;
  } catch (const std::bad_alloc&) {
    *error = KernelError{true, "ERR_LOWBIT_OUT_OF_MEMORY", "out of memory: the system refused an allocation for this call"};
    return false;
  } catch (const std::exception& e) {
    *error = KernelError{false, "ERR_LOWBIT_INTERNAL", std::string("internal error: ") + e.what()};
    return false;
  }
  if (scope_.faulted()) {
    const uintptr_t at = scope_.address();
    for (const fault::Range& r : files_) {
      if (at >= r.begin && at < r.end) {
        *error = KernelError{true, "ERR_LOWBIT_FILE_TRUNCATED",
                             "the table's file is shorter than when it was opened (truncated by another program?): the lookup read past its end"};
        return false;
      }
    }
    *error = KernelError{false, "ERR_LOWBIT_DETACHED", "a table's ArrayBuffer was detached, transferred or shrunk while the call ran"};
    return false;
  }
  return true;
}

namespace {

napi_value make_error(napi_env env, const KernelError& e) {
  napi_value code = nullptr, msg = nullptr, err = nullptr;
  if (napi_create_string_utf8(env, e.code.c_str(), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, e.message.c_str(), NAPI_AUTO_LENGTH, &msg) != napi_ok) {
    return nullptr;
  }
  const napi_status s = e.range ? napi_create_range_error(env, code, msg, &err) : napi_create_type_error(env, code, msg, &err);
  return s == napi_ok ? err : nullptr;
}

}  // namespace

// True if the array behind `ref` is still at `data` with at least `length` elements (not
// detached, transferred or shrunk since the call took it).
bool Call::still_there(napi_ref ref, uintptr_t data, size_t length) const {
  napi_value v;
  napi_typedarray_type type;
  size_t len = 0;
  void* now = nullptr;
  return napi_get_reference_value(env_, ref, &v) == napi_ok && v != nullptr &&
         napi_get_typedarray_info(env_, v, &type, &len, &now, nullptr, nullptr) == napi_ok &&
         reinterpret_cast<uintptr_t>(now) == data && len >= length;
}

void Call::settle(napi_deferred deferred, napi_ref result, bool ok, const KernelError& error) {
  KernelError e = error;
  // tables read in place: the result is only good if they stayed as they were
  for (const JsTable& t : js_tables_) {
    if (ok && !still_there(t.ref, t.data, t.length)) {
      ok = false;
      e = KernelError{false, "ERR_LOWBIT_DETACHED", "a table's ArrayBuffer was detached, transferred or shrunk while the call ran"};
    }
  }
  // staged outputs: every one must still be where it was, or none is written
  for (const Output& o : outputs_) {
    if (ok && o.staged && !still_there(o.ref, o.user, o.length)) {
      ok = false;
      e = KernelError{false, "ERR_LOWBIT_DETACHED",
                      "the output array was detached, transferred or shrunk before the call settled: nothing was written"};
    }
  }
  if (ok) {
    for (const Span& s : spans_)
      if (s.end > s.begin) std::memcpy(reinterpret_cast<void*>(s.begin), s.buf.get(), s.end - s.begin);
    napi_value v = nullptr;
    if (napi_get_reference_value(env_, result, &v) == napi_ok && v != nullptr) napi_resolve_deferred(env_, deferred, v);
    return;
  }
  if (napi_value err = make_error(env_, e)) {
    napi_value code;
    if (napi_create_string_utf8(env_, e.code.c_str(), NAPI_AUTO_LENGTH, &code) == napi_ok) napi_set_named_property(env_, err, "code", code);
    napi_reject_deferred(env_, deferred, err);
  }
}

// The async form: the Call and its work on libuv's pool, the Promise settled on completion.
class AsyncCall {
 public:
  static void Execute(napi_env, void* data) {
    AsyncCall* self = static_cast<AsyncCall*>(data);
    self->ok_ = self->call_->execute(self->work_, &self->error_);
  }
  // Never throws, whatever the state of the environment: a worker that is terminating or a
  // process that is exiting makes the napi calls below fail, and the Promise is then dropped.
  static void Complete(napi_env env, napi_status status, void* data) {
    std::unique_ptr<AsyncCall> self(static_cast<AsyncCall*>(data));
    napi_handle_scope scope = nullptr;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      if (status == napi_cancelled) {
        self->ok_ = false;
        self->error_ = KernelError{false, "ERR_LOWBIT_CANCELLED", "the call was cancelled: its environment is shutting down"};
      }
      self->call_->settle(self->deferred_, self->result_, self->ok_, self->error_);
      napi_close_handle_scope(env, scope);
    }
    napi_delete_reference(env, self->result_);
    napi_delete_async_work(env, self->work_handle_);
  }

  std::unique_ptr<Call> call_;
  std::function<void()> work_;
  napi_deferred deferred_ = nullptr;
  napi_ref result_ = nullptr;
  napi_async_work work_handle_ = nullptr;
  bool ok_ = false;
  KernelError error_;
};

Napi::Value Call::run(std::unique_ptr<Call> call, std::function<void()> work, napi_value result) {
  napi_env env = call->env_;
  if (!call->outputs_sealed_) call->outputs_done();
  if (!call->async_) {
    KernelError e;
    if (!call->execute(work, &e)) {
      if (e.range) throw_range_error(Napi::Env(env), e.code.c_str(), e.message);
      throw_type_error(Napi::Env(env), e.code.c_str(), e.message);
    }
    return Napi::Value(env, result);
  }
  auto a = std::make_unique<AsyncCall>();
  napi_value promise, name;
  if (napi_create_promise(env, &a->deferred_, &promise) != napi_ok ||
      napi_create_reference(env, result, 1, &a->result_) != napi_ok ||
      napi_create_string_utf8(env, "lowbit", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, AsyncCall::Execute, AsyncCall::Complete, a.get(), &a->work_handle_) != napi_ok) {
    if (a->result_) napi_delete_reference(env, a->result_);
    throw_range_error(Napi::Env(env), "ERR_LOWBIT_INTERNAL", "cannot queue the async call");
  }
  a->call_ = std::move(call);
  a->work_ = std::move(work);
  if (napi_queue_async_work(env, a->work_handle_) != napi_ok) {
    napi_delete_async_work(env, a->work_handle_);
    napi_delete_reference(env, a->result_);
    throw_range_error(Napi::Env(env), "ERR_LOWBIT_INTERNAL", "cannot queue the async call");
  }
  a.release();  // Complete owns it now
  return Napi::Value(env, promise);
}

}  // namespace napi
}  // namespace lowbit
