// N-API bindings of the SUBLEQ looped MLP (lib/looped/subleq/ is the only caller). State and
// layer layout: looped/subleq.h.
//   subleqBuild(g)                                  -> { stateSize, layers: [{ rows, inputs, rowPtr,
//                                                       cols, vals, bias }] }   (Int32Arrays, sync)
//   subleqEncode(program, memory, g)                -> Int32Array x0 [D0]        (sync)
//   subleqRun(layers, X, haltStep, memOut, pcOut, p) -> Promise<void>   (copies the layers)
// g: { M, P, N, layers }; p: g plus { B, stepBegin, steps, totalSteps, traceEvery }.
// program Int32Array [n, 3], memory Int32Array [m], X [B, D0], haltStep [B] (in/out);
// memOut / pcOut: [B, totalSteps + 1, M] / [B, totalSteps + 1] with traceEvery, else [B, M] / [B].
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "looped/subleq.h"
#include "napi/async_job.h"
#include "napi/convert.h"

namespace lemma::napi {

namespace {

// An Int32Array of `length` elements (any length when length < 0); nullptr when empty.
int32_t* int32s(const Napi::Value& v, const std::string& name, int64_t length, size_t* got = nullptr) {
  const ArrayView a = read_array(v, name, Dtype::kInt32, length < 0 ? kAnyLength : static_cast<size_t>(length));
  if (got) *got = a.length;
  return static_cast<int32_t*>(a.data);
}

SubleqGeometry read_geometry(const Napi::Value& v) {
  if (!v.IsObject()) throw_error(v.Env(), Code::kInternal, "subleq params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  SubleqGeometry g;
  g.M = get_int(o, "M");
  g.P = get_int(o, "P");
  g.N = static_cast<int>(get_int(o, "N"));
  g.layers = static_cast<int>(get_int(o, "layers"));
  const Status st = subleq_check_geometry(g);
  if (!st.ok()) throw_status(v.Env(), st);
  return g;
}

Napi::Int32Array to_js(Napi::Env env, const std::vector<int32_t>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(int32_t));
  return a;
}

Napi::Value Build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SubleqGeometry g = read_geometry(info[0]);
  std::vector<SubleqLayer> layers;
  const Status st = subleq_build(g, &layers);
  if (!st.ok()) throw_status(env, st);
  Napi::Array out = Napi::Array::New(env, layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("rows", Napi::Number::New(env, static_cast<double>(layers[l].rows)));
    o.Set("inputs", Napi::Number::New(env, static_cast<double>(layers[l].inputs)));
    o.Set("rowPtr", to_js(env, layers[l].row_ptr));
    o.Set("cols", to_js(env, layers[l].cols));
    o.Set("vals", to_js(env, layers[l].vals));
    o.Set("bias", to_js(env, layers[l].bias));
    out.Set(static_cast<uint32_t>(l), o);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("stateSize", Napi::Number::New(env, static_cast<double>(subleq_state_size(g))));
  r.Set("layers", out);
  return r;
}

Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SubleqGeometry g = read_geometry(info[2]);
  size_t n3 = 0, m = 0;
  const int32_t* program = int32s(info[0], "program", -1, &n3);
  const int32_t* memory = int32s(info[1], "memory", -1, &m);
  if (n3 % 3 != 0) throw_error(env, Code::kShape, "program must hold (a, b, c) triples");
  Napi::Int32Array x0 = Napi::Int32Array::New(env, static_cast<size_t>(subleq_state_size(g)));
  const Status st = subleq_encode(g, program, static_cast<int64_t>(n3 / 3), memory, static_cast<int64_t>(m), x0.Data());
  if (!st.ok()) throw_status(env, st);
  return x0;
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[5].IsObject()) throw_error(env, Code::kInternal, "subleq run params must be an object");
  Napi::Object o = info[5].As<Napi::Object>();
  SubleqRunParams p;
  p.g = read_geometry(o);
  p.B = get_int(o, "B");
  p.step_begin = get_int(o, "stepBegin");
  p.steps = get_int(o, "steps");
  p.total_steps = get_int(o, "totalSteps");
  p.trace_every = get_bool(o, "traceEvery", false);
  const int64_t D0 = subleq_state_size(p.g), M = p.g.M;
  if (!info[0].IsArray()) throw_error(env, Code::kInternal, "layers must be an array");
  Napi::Array la = info[0].As<Napi::Array>();
  // The weights are copied (O(nnz), small next to the steps' O(nnz B steps)): the caller's typed
  // arrays stay writable from JS while the job runs, and checked indices must not change under it.
  auto owned = std::make_shared<std::vector<SubleqLayer>>(la.Length());
  auto views = std::make_shared<std::vector<SubleqLayerView>>(la.Length());
  for (uint32_t l = 0; l < la.Length(); ++l) {
    Napi::Value lv = la.Get(l);
    if (!lv.IsObject()) throw_error(env, Code::kInternal, "each layer must be an object");
    Napi::Object lo = lv.As<Napi::Object>();
    SubleqLayer& L = (*owned)[l];
    const std::string at = "layers[" + std::to_string(l) + "].";
    L.rows = get_int(lo, "rows");
    L.inputs = get_int(lo, "inputs");
    if (L.rows > (int64_t{1} << 30)) throw_error(env, Code::kShape, at + "rows is too large");
    size_t nnz = 0, nv = 0;
    const int32_t* rp = int32s(lo.Get("rowPtr"), at + "rowPtr", L.rows + 1);
    const int32_t* cols = int32s(lo.Get("cols"), at + "cols", -1, &nnz);
    const int32_t* vals = int32s(lo.Get("vals"), at + "vals", -1, &nv);
    const int32_t* bias = int32s(lo.Get("bias"), at + "bias", L.rows);
    if (nv != nnz) throw_error(env, Code::kShape, at + "vals and cols differ in length");
    L.row_ptr.assign(rp, rp + L.rows + 1);
    L.cols.assign(cols, cols + nnz);
    L.vals.assign(vals, vals + nnz);
    L.bias.assign(bias, bias + L.rows);
    SubleqLayerView& v = (*views)[l];
    v.rows = L.rows;
    v.inputs = L.inputs;
    v.nnz = static_cast<int64_t>(nnz);
    v.row_ptr = L.row_ptr.data();
    v.cols = L.cols.data();
    v.vals = L.vals.data();
    v.bias = L.bias.data();
  }
  const Status st = subleq_check_layers(p.g, views->data(), static_cast<int>(views->size()));
  if (!st.ok()) throw_status(env, st);
  const int64_t rows_out = p.trace_every ? p.total_steps + 1 : 1;
  int32_t* X = int32s(info[1], "X", p.B * D0);
  int32_t* halt = int32s(info[2], "haltStep", p.B);
  int32_t* mem = int32s(info[3], "memOut", p.B * rows_out * M);
  int32_t* pc = int32s(info[4], "pcOut", p.B * rows_out);
  auto* job = new AsyncJob(env, "lemma:subleqRun", [p, owned, views, X, halt, mem, pc]() {
    return subleq_run_cpu(p, views->data(), static_cast<int>(views->size()), X, halt, mem, pc);
  });
  for (size_t i = 1; i <= 4; ++i) job->Keep(info[i]);
  return job->Start();
}

}  // namespace

void register_subleq(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "subleqBuild", Build);
  export_function(env, exports, "subleqEncode", Encode);
  export_function(env, exports, "subleqRun", Run);
}

}  // namespace lemma::napi
