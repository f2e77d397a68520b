/**
 * A one-node ONNX model: com.microsoft MultiHeadAttention (onnxruntime's fused CPU attention),
 * encoded by hand (protobuf wire format), so the prefill benchmark can time onnxruntime-node in
 * the same run as lemma without a model file or an onnx package. Inputs query, key, value are
 * [B, N, H·D] (onnxruntime's BSNH layout); output [B, N, H·D].
 */

// --- protobuf wire format: varints, length-delimited fields ----------------------------------
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, v: number) => [...tag(field, 0), ...varint(v)];
const bytes = (field: number, b: number[]) => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s, 'utf8')]);
const float = (field: number, v: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return [...tag(field, 5), ...b];
};

// onnx.proto field numbers (ModelProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto).
const FLOAT_TENSOR = 1;
const ATTR_FLOAT = 1, ATTR_INT = 2;

function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, int(1, d)));          // Dimension.dim_value
  const tensorType = [...int(1, FLOAT_TENSOR), ...bytes(2, shape)];  // elem_type, shape
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];       // name, TypeProto.tensor_type
}

export interface MhaModelShape { B: number; N: number; H: number; D: number; causal: boolean }

/** The serialized model (ir_version 8, opsets: '' 17, com.microsoft 1). */
export function mhaModel(s: MhaModelShape): Uint8Array {
  const hidden = s.H * s.D;
  const attrs = [
    bytes(5, [...str(1, 'num_heads'), ...int(3, s.H), ...int(20, ATTR_INT)]),
    bytes(5, [...str(1, 'scale'), ...float(2, 1 / Math.sqrt(s.D)), ...int(20, ATTR_FLOAT)]),
    ...(s.causal ? [bytes(5, [...str(1, 'unidirectional'), ...int(3, 1), ...int(20, ATTR_INT)])] : []),
  ].flat();
  const node = [
    ...str(1, 'query'), ...str(1, 'key'), ...str(1, 'value'), ...str(2, 'output'),
    ...str(3, 'mha'), ...str(4, 'MultiHeadAttention'), ...attrs, ...str(7, 'com.microsoft'),
  ];
  const io = [s.B, s.N, hidden];
  const graph = [
    ...bytes(1, node), ...str(2, 'lemma-mha'),
    ...bytes(11, valueInfo('query', io)), ...bytes(11, valueInfo('key', io)),
    ...bytes(11, valueInfo('value', io)), ...bytes(12, valueInfo('output', io)),
  ];
  const model = [
    ...int(1, 8),                                              // ir_version
    ...bytes(8, [...str(1, ''), ...int(2, 17)]),               // opset_import
    ...bytes(8, [...str(1, 'com.microsoft'), ...int(2, 1)]),
    ...str(2, 'lemma'),                                        // producer_name
    ...bytes(7, graph),
  ];
  return Uint8Array.from(model);
}

/** [B, H, N, D] -> [B, N, H·D] (and back with inverse = true). */
export function toBnhd(x: Float32Array, B: number, H: number, N: number, D: number, inverse = false): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let n = 0; n < N; n++) {
        const bhnd = ((b * H + h) * N + n) * D, bnhd = ((b * N + n) * H + h) * D;
        for (let d = 0; d < D; d++) {
          if (inverse) y[bhnd + d] = x[bnhd + d];
          else y[bnhd + d] = x[bhnd + d];
        }
      }
  return y;
}
