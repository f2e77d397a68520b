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
        "native/core/cuda_stub.cc",
        "native/napi/addon.cc",
        "native/napi/convert.cc",
        "native/napi/attention_binding.cc"
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
