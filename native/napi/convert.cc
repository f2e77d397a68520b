// See convert.h.
#include "napi/convert.h"

#include "core/cancel.h"

#include <cmath>
#include <exception>
#include <new>
#include <stdexcept>

namespace lemma::napi {

Napi::Error to_js_error(Napi::Env env, const Status& st) {
  Napi::Error e = Napi::Error::New(env, st.message);
  e.Set("code", Napi::String::New(env, code_name(st.code)));
  return e;
}

void throw_status(Napi::Env env, const Status& st) { throw to_js_error(env, st); }

void throw_error(Napi::Env env, Code code, const std::string& message) {
  throw_status(env, Status::Error(code, message));
}

Status exception_status() noexcept {
  try {
    throw;
  } catch (const Aborted&) {
    return Status::Error(Code::kAborted, "the operation was aborted");
  } catch (const std::bad_alloc&) {
    return Status::Error(Code::kOom, "out of host memory");
  } catch (const std::length_error& e) {
    return Status::Error(Code::kOom, std::string("out of host memory (a size is too large: ") + e.what() + ")");
  } catch (const std::exception& e) {
    return Status::Error(Code::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return Status::Error(Code::kInternal, "internal error: an unknown C++ exception");
  }
}

Status guarded(const std::function<Status()>& work) noexcept {
  try {
    return work();
  } catch (...) {
    return exception_status();
  }
}

const char* dtype_array_name(Dtype d) {
  switch (d) {
    case Dtype::kFloat32: return "Float32Array";
    case Dtype::kFloat64: return "Float64Array";
    case Dtype::kInt32: return "Int32Array";
    case Dtype::kUint8: return "Uint8Array";
  }
  return "?";
}

size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::kFloat32: return 4;
    case Dtype::kFloat64: return 8;
    case Dtype::kInt32: return 4;
    case Dtype::kUint8: return 1;
  }
  return 1;
}

namespace {

bool dtype_of(napi_typedarray_type t, Dtype* d) {
  switch (t) {
    case napi_float32_array: *d = Dtype::kFloat32; return true;
    case napi_float64_array: *d = Dtype::kFloat64; return true;
    case napi_int32_array: *d = Dtype::kInt32; return true;
    case napi_uint8_array: *d = Dtype::kUint8; return true;
    default: return false;
  }
}

// The raw view of a typed array (any element type); throws for a detached buffer.
ArrayView view_of(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok)
    throw_error(env, Code::kDtype, name + " must be a typed array");
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached)
    throw_error(env, Code::kShape, name + " is backed by a detached buffer");
  ArrayView a;
  a.length = length;
  a.bytes = Napi::TypedArray(env, v).ByteLength();
  // napi_get_typedarray_info's data already points at byteOffset within the buffer.
  a.data = length > 0 ? data : nullptr;
  if (length > 0 && data == nullptr) throw_error(env, Code::kShape, name + " has no backing store");
  return a;
}

}  // namespace

Dtype float_dtype(const Napi::Value& v, const std::string& name) {
  Dtype d;
  if (!v.IsTypedArray() || !dtype_of(v.As<Napi::TypedArray>().TypedArrayType(), &d) ||
      (d != Dtype::kFloat32 && d != Dtype::kFloat64))
    throw_error(v.Env(), Code::kDtype, name + " must be a Float32Array or Float64Array");
  return d;
}

ArrayView read_array(const Napi::Value& v, const std::string& name, Dtype dtype, size_t length) {
  Napi::Env env = v.Env();
  Dtype got;
  if (!v.IsTypedArray())
    throw_error(env, Code::kDtype, name + " must be a " + dtype_array_name(dtype));
  if (!dtype_of(v.As<Napi::TypedArray>().TypedArrayType(), &got) || got != dtype)
    throw_error(env, Code::kDtype, name + " must be a " + dtype_array_name(dtype) + ", not another typed array");
  ArrayView a = view_of(v, name);
  a.dtype = dtype;
  if (length != kAnyLength && a.length != length)
    throw_error(env, Code::kShape, name + " has " + std::to_string(a.length) + " elements, expected " +
                                       std::to_string(length));
  return a;
}

ArrayView read_any_array(const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray()) throw_error(v.Env(), Code::kDtype, name + " must be a typed array");
  return view_of(v, name);
}

int64_t get_int(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(o.Env(), Code::kInternal, std::string("missing integer ") + key);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < 0 || d > 9007199254740991.0)
    throw_error(o.Env(), Code::kRange, std::string(key) + " is not a valid size");
  return static_cast<int64_t>(d);
}

double get_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(o.Env(), Code::kInternal, std::string("missing number ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

}  // namespace lemma::napi
