// The N-API boundary's one set of helpers, used by every binding:
//   - guarded() / exception_status(): the one exception guard. Every native call, async (the
//     worker's closure) or sync (the *Sync twins and every entry point, via function()), turns a
//     C++ exception into a Status: std::bad_alloc and std::length_error -> ERR_OOM, any other
//     std::exception -> ERR_INTERNAL with what(), anything else -> ERR_INTERNAL.
//   - read_array() / get_array(): the one typed-array reader (type, dtype, length, byteOffset of
//     subarray views, detached buffers).
//   - make_handle() / get_handle() / dispose_handle(): the one handle scheme for native objects.
//   - to_js_error(): a Status as a plain Error with a stable `code` (lib/errors.ts fromNative
//     turns it into a LemmaError with the caller's stack; ERR_DTYPE included).
// Everything here except guarded() / exception_status() runs on the main thread only.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace lemma::napi {

// ------------------------------------------------------------------------------ errors ----
// The JS error for a Status: a plain Error with `code` (never TypeError / RangeError: a Status
// is a LemmaError; argument-type mistakes the native layer sees are ERR_DTYPE).
Napi::Error to_js_error(Napi::Env env, const Status& st);
[[noreturn]] void throw_status(Napi::Env env, const Status& st);
[[noreturn]] void throw_error(Napi::Env env, Code code, const std::string& message);

// The Status of the exception being handled; call only inside a catch block.
Status exception_status() noexcept;
// Runs `work`, turning any C++ exception into a Status (see above). Safe on any thread.
Status guarded(const std::function<Status()>& work) noexcept;

// Wraps a binding entry point: Napi::Error (already a JS error) passes through; any other C++
// exception becomes the JS error of exception_status(). Every exported function goes through it.
template <typename F>
Napi::Function function(Napi::Env env, const char* name, F fn) {
  return Napi::Function::New(
      env,
      [fn](const Napi::CallbackInfo& info) -> Napi::Value {
        Status st;
        try {
          return fn(info);
        } catch (const Napi::Error&) {
          throw;
        } catch (...) {
          st = exception_status();
        }
        throw_status(info.Env(), st);
      },
      name);
}
inline void export_function(Napi::Env env, Napi::Object exports, const char* name,
                            Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, function(env, name, fn));
}

// ------------------------------------------------------------------------ typed arrays ----
enum class Dtype { kFloat32, kFloat64, kInt32, kUint8 };
const char* dtype_array_name(Dtype d);  // "Float32Array", ...
size_t dtype_size(Dtype d);

// A typed-array argument, re-validated in C++ (TS validated first; never trust it alone).
struct ArrayView {
  void* data = nullptr;  // buffer data + byteOffset; nullptr when empty
  size_t length = 0;     // elements
  size_t bytes = 0;
  Dtype dtype = Dtype::kFloat32;
};

constexpr size_t kAnyLength = static_cast<size_t>(-1);

// Reads `v` as a typed array of `dtype` with exactly `length` elements (any length with
// kAnyLength). Not a typed array, or another element type: ERR_DTYPE. A detached buffer:
// ERR_SHAPE, as lib/tensor.ts says for the same mistake. Wrong length: ERR_SHAPE.
ArrayView read_array(const Napi::Value& v, const std::string& name, Dtype dtype, size_t length = kAnyLength);
// Float32Array or Float64Array (else ERR_DTYPE).
Dtype float_dtype(const Napi::Value& v, const std::string& name);
// Any typed array (any element type), checked for detachment: streamRead.
ArrayView read_any_array(const Napi::Value& v, const std::string& name);
inline ArrayView get_array(const Napi::CallbackInfo& info, size_t index, const std::string& name, Dtype dtype,
                           size_t length = kAnyLength) {
  return read_array(info[index], name, dtype, length);
}
// A copy of the array's elements (the caller's typed array may change after the call returns).
template <typename T>
std::vector<T> copy_array(const Napi::Value& v, const std::string& name, Dtype dtype, size_t length = kAnyLength) {
  const ArrayView a = read_array(v, name, dtype, length);
  const T* p = static_cast<const T*>(a.data);
  return p ? std::vector<T>(p, p + a.length) : std::vector<T>();
}

// ------------------------------------------------------------------------------ options ---
int64_t get_int(const Napi::Object& o, const char* key);
double get_number(const Napi::Object& o, const char* key);
bool get_bool(const Napi::Object& o, const char* key, bool fallback);

// ------------------------------------------------------------------------------ handles ---
// A native object reaches JS as a type-tagged External holding a std::shared_ptr<T> (the
// handle's reference). Each handle type T declares its kind once:
//   template <> struct HandleKind<T> { static constexpr napi_type_tag tag = {...};
//                                      static constexpr const char* name = "..."; };
// get_handle() returns a new shared_ptr: a job co-owns the object from the call until its work
// ends, so dispose() while a call runs frees nothing under it (the last owner frees it). The
// same mistakes give the same errors in every family:
//   not a handle of that kind -> TypeError "<arg>: expected a <kind> handle"
//   a disposed handle         -> LemmaError ERR_DISPOSED "<arg> has been disposed (<kind>)"
// The External's finalizer only drops the handle's reference (a safety net for a missed
// dispose()). `host_bytes`, the host memory the object holds, is reported to V8 as external
// memory for the handle's lifetime, so that objects dropped without dispose() press the garbage
// collector like the JS memory they stand for (without it V8 sees a few bytes per handle and may
// let hundreds of megabytes of dropped objects wait for a collection).
template <typename T>
struct HandleKind;

template <typename T>
Napi::Value make_handle(Napi::Env env, std::shared_ptr<T> obj, int64_t host_bytes = 0) {
  auto* slot = new std::shared_ptr<T>(std::move(obj));
  if (host_bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, host_bytes);
  Napi::External<std::shared_ptr<T>> ext = Napi::External<std::shared_ptr<T>>::New(
      env, slot, [host_bytes](Napi::Env e, std::shared_ptr<T>* p) {
        delete p;
        if (host_bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(e, -host_bytes);
      });
  const napi_status s = napi_type_tag_object(env, ext, &HandleKind<T>::tag);
  if (s != napi_ok) throw_error(env, Code::kInternal, "cannot tag a native handle");
  return ext;
}

// The handle's reference (empty once disposed); TypeError when `v` is no handle of kind T.
template <typename T>
std::shared_ptr<T>& handle_slot(const Napi::Value& v, const std::string& arg) {
  bool ok = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &HandleKind<T>::tag, &ok);
  if (!ok) throw Napi::TypeError::New(v.Env(), arg + ": expected a " + HandleKind<T>::name + " handle");
  return *v.As<Napi::External<std::shared_ptr<T>>>().Data();
}

template <typename T>
std::shared_ptr<T> get_handle(const Napi::Value& v, const std::string& arg) {
  std::shared_ptr<T>& slot = handle_slot<T>(v, arg);
  if (!slot) throw_error(v.Env(), Code::kDisposed, arg + " has been disposed (" + HandleKind<T>::name + ")");
  return slot;
}

// Drops the handle's reference; idempotent. Returns what it dropped (null when already disposed)
// so the caller can, e.g., abort work still holding it.
template <typename T>
std::shared_ptr<T> dispose_handle(const Napi::Value& v, const std::string& arg) {
  std::shared_ptr<T> old;
  old.swap(handle_slot<T>(v, arg));
  return old;
}

}  // namespace lemma::napi
