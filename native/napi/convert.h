// Conversions at the N-API boundary: typed arrays -> raw views, option getters, and
// Status -> a JS Error with a stable `code` (lib/errors.ts turns it into a LemmaError with the
// caller's stack). Nothing here is used from a worker thread.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "core/status.h"

namespace lemma::napi {

// The JS error for a Status (TypeError for kDtype, RangeError never: value checks are LemmaError).
Napi::Error to_js_error(Napi::Env env, const Status& st);
[[noreturn]] void throw_status(Napi::Env env, const Status& st);

enum class Dtype { kFloat32, kFloat64 };

// A typed-array argument, re-validated in C++ (TS validated first; never trust it alone).
struct ArrayView {
  void* data = nullptr;
  size_t length = 0;  // elements
  Dtype dtype = Dtype::kFloat32;
};

// Reads info[index] as a Float32Array or Float64Array of exactly `length` elements and the
// given dtype; throws a JS error (ERR_DTYPE / ERR_SHAPE) otherwise.
ArrayView get_array(const Napi::CallbackInfo& info, size_t index, const char* name,
                    Dtype dtype, size_t length);
Dtype array_dtype(const Napi::Value& v, const char* name);

int64_t get_int(const Napi::Object& o, const char* key);
double get_number(const Napi::Object& o, const char* key);
bool get_bool(const Napi::Object& o, const char* key, bool fallback);

}  // namespace lemma::napi
