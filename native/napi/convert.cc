// See convert.h.
#include "napi/convert.h"

#include <cmath>

namespace lemma::napi {

Napi::Error to_js_error(Napi::Env env, const Status& st) {
  Napi::Error e = st.code == Code::kDtype ? Napi::TypeError::New(env, st.message)
                                          : Napi::Error::New(env, st.message);
  e.Set("code", Napi::String::New(env, code_name(st.code)));
  return e;
}

void throw_status(Napi::Env env, const Status& st) { throw to_js_error(env, st); }

Dtype array_dtype(const Napi::Value& v, const char* name) {
  if (v.IsTypedArray()) {
    const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
    if (t == napi_float32_array) return Dtype::kFloat32;
    if (t == napi_float64_array) return Dtype::kFloat64;
  }
  throw_status(v.Env(), Status::Error(Code::kDtype, std::string(name) +
                                                        " must be a Float32Array or Float64Array"));
}

ArrayView get_array(const Napi::CallbackInfo& info, size_t index, const char* name, Dtype dtype,
                    size_t length) {
  Napi::Env env = info.Env();
  const Dtype got = array_dtype(info[index], name);
  if (got != dtype)
    throw_status(env, Status::Error(Code::kDtype, std::string(name) + " has the wrong dtype"));
  Napi::TypedArray ta = info[index].As<Napi::TypedArray>();
  if (ta.ElementLength() != length)
    throw_status(env, Status::Error(Code::kShape, std::string(name) + " has " +
                                                      std::to_string(ta.ElementLength()) +
                                                      " elements, expected " +
                                                      std::to_string(length)));
  ArrayView view;
  view.length = length;
  view.dtype = dtype;
  if (length > 0) {
    view.data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (view.data == nullptr)
      throw_status(env, Status::Error(Code::kShape, std::string(name) + " is detached"));
  }
  return view;
}

int64_t get_int(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber())
    throw_status(o.Env(), Status::Error(Code::kInternal, std::string("missing integer ") + key));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < 0 || d > 9007199254740991.0)
    throw_status(o.Env(), Status::Error(Code::kRange, std::string(key) + " is not a valid size"));
  return static_cast<int64_t>(d);
}

double get_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber())
    throw_status(o.Env(), Status::Error(Code::kInternal, std::string("missing number ") + key));
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

}  // namespace lemma::napi
