{
  "targets": [
    {
      "target_name": "lemma",
      "sources": [
        "native/core/thread_pool.cc",
        "native/core/cpu_features.cc",
        "native/core/fma_peak.cc",
        "native/core/fma_peak_avx2.cc",
        "native/core/fma_peak_avx512.cc",
        "native/attention/attention_ref.cc",
        "native/attention/attention_cpu.cc",
        "native/attention/attention_cpu_scalar.cc",
        "native/attention/attention_cpu_avx2.cc",
        "native/attention/attention_cpu_avx512.cc",
        "native/sparse_attention/sparse_attention_ref.cc",
        "native/sparse_attention/sparse_attention_index.cc",
        "native/sparse_attention/sparse_attention_cpu.cc",
        "native/sparse_attention/sparse_attention_cpu_scalar.cc",
        "native/sparse_attention/sparse_attention_cpu_avx2.cc",
        "native/sparse_attention/sparse_attention_cpu_avx512.cc",
        "native/dp/dp_ref.cc",
        "native/dp/dp_cpu.cc",
        "native/polytope/polytope_body.cc",
        "native/polytope/polytope_cpu.cc",
        "native/polytope/polytope_ref.cc",
        "native/polytope/polytope_cpu_scalar.cc",
        "native/polytope/polytope_cpu_avx2.cc",
        "native/polytope/polytope_cpu_avx512.cc",
        "native/polytope/polytope_diag.cc",
        "native/core/cuda_stub.cc",
        "native/attention/attention_cuda_stub.cc",
        "native/napi/addon.cc",
        "native/napi/convert.cc",
        "native/napi/attention_binding.cc",
        "native/napi/sparse_attention_binding.cc",
        "native/napi/cuda_binding.cc",
        "native/napi/dp_binding.cc",
        "native/napi/polytope_binding.cc"
      ],
      "include_dirs": ["native"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "LEMMA_VERSION=\"<!(node -p \"require('./package.json').version\")\""],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-pthread"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
