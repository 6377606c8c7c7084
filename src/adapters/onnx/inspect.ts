/**
 * A minimal, defensive protobuf reader for ONNX ModelProto: it never executes or allocates from
 * the model beyond what it reads, and it runs before the bytes reach onnxruntime.
 *
 * It walks the whole message tree that can hold tensors to find tensors stored as external data
 * (TensorProto.data_location = EXTERNAL or a non-empty external_data list). onnxruntime resolves such
 * paths against its working directory for models loaded from bytes, so a model in an untrusted
 * archive could make it read files outside the archive (and trade on their bytes); policy-gate refuses
 * them instead.
 *
 * The walk, audited field by field against onnx.proto3 (onnx 1.17: every message field whose type is,
 * or transitively contains, TensorProto):
 *   ModelProto.graph 7 → GraphProto; .training_info 20 → TrainingInfoProto; .functions 25 → FunctionProto
 *   GraphProto.node 1 → NodeProto; .initializer 5 → TensorProto; .sparse_initializer 15 → SparseTensorProto
 *   NodeProto.attribute 5 → AttributeProto
 *   AttributeProto.t 5, .tensors 10 → TensorProto; .sparse_tensor 22, .sparse_tensors 23 → SparseTensorProto;
 *                  .g 6, .graphs 11 → GraphProto (subgraphs: If/Loop/Scan bodies, at any depth)
 *   FunctionProto.node 7 → NodeProto; .attribute_proto 11 → AttributeProto (the defaults of a
 *                  function's attributes: a Constant in the body reads one through ref_attr_name)
 *   TrainingInfoProto.initialization 1, .algorithm 2 → GraphProto
 *   SparseTensorProto.values 1, .indices 2 → TensorProto
 * No other message reachable from ModelProto holds a tensor: ValueInfoProto, TypeProto (and its
 * Tensor/Sequence/Map/Optional/SparseTensor/Opaque), TensorShapeProto, TensorAnnotation,
 * OperatorSetIdProto, StringStringEntryProto, NodeDeviceConfigurationProto and its sharding specs, and
 * DeviceConfigurationProto carry names, types and numbers only. Every field is checked whatever
 * AttributeProto.type claims, a field that occurs twice (protobuf merges them) is checked in each
 * occurrence, and a field of an unexpected wire type is a parse error, so nothing is skipped.
 *
 * Field numbers used below:
 *   ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8,
 *               metadata_props 14, training_info 20, functions 25
 *   GraphProto: node 1, name 2, initializer 5, input 11, output 12, sparse_initializer 15
 *   NodeProto: name 3, op_type 4, attribute 5 — AttributeProto: name 1, t 5, g 6, tensors 10, graphs 11,
 *              sparse_tensor 22, sparse_tensors 23
 *   TensorProto: name 8, external_data 13, data_location 14 — SparseTensorProto: values 1, indices 2
 *   FunctionProto: name 1, node 7, attribute_proto 11 — TrainingInfoProto: initialization 1, algorithm 2
 *   StringStringEntryProto: key 1, value 2 — OperatorSetIdProto: domain 1, version 2
 */

export interface OnnxOpset {
  domain: string;
  version: number;
}

export interface ExternalTensorRef {
  /** Tensor name ('' when unnamed). */
  name: string;
  /** Where it was found, e.g. "graph.initializer" or "node Constant_3 attribute value". */
  where: string;
  /** external_data location, when given. */
  location?: string;
}

export interface OnnxModelInfo {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  opsets: OnnxOpset[];
  /** ModelProto.metadata_props. */
  metadata: Record<string, string>;
  /** Nodes and initializers of the main graph. */
  nodes: number;
  initializers: number;
  /** Every tensor, anywhere in the model, that keeps its data outside the file. */
  externalTensors: ExternalTensorRef[];
}

export class OnnxParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxParseError';
  }
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const MAX_DEPTH = 32;

interface Field {
  field: number;
  wire: number;
  /** Varint value (wire 0). Exact up to 2^53. */
  value: number;
  /** Byte range of a length-delimited payload (wire 2). */
  start: number;
  end: number;
}

/** Iterate the fields of the message in buf[start, end); throws OnnxParseError on malformed input. */
function* fields(buf: Uint8Array, start: number, end: number): Generator<Field> {
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new OnnxParseError(`truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new OnnxParseError(`varint longer than 10 bytes at byte ${pos}`);
  };
  while (pos < end) {
    const at = pos;
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new OnnxParseError(`invalid field number 0 at byte ${at}`);
    switch (wire) {
      case 0:
        yield { field, wire, value: varint(), start: 0, end: 0 };
        break;
      case 1:
        if (pos + 8 > end) throw new OnnxParseError(`truncated 64-bit field at byte ${at}`);
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (len > end - pos) throw new OnnxParseError(`field ${field} at byte ${at} claims ${len} bytes but only ${end - pos} remain`);
        const s = pos;
        pos += len;
        yield { field, wire, value: len, start: s, end: pos };
        break;
      }
      case 5:
        if (pos + 4 > end) throw new OnnxParseError(`truncated 32-bit field at byte ${at}`);
        pos += 4;
        break;
      default:
        throw new OnnxParseError(`invalid wire type ${wire} at byte ${at}`);
    }
  }
}

function expectLen(f: Field, what: string): void {
  if (f.wire !== 2) throw new OnnxParseError(`${what} has wire type ${f.wire}, expected a length-delimited field`);
}

function expectVarint(f: Field, what: string): void {
  if (f.wire !== 0) throw new OnnxParseError(`${what} has wire type ${f.wire}, expected a varint`);
}

function str(buf: Uint8Array, f: Field): string {
  return decoder.decode(buf.subarray(f.start, f.end));
}

function readStringEntry(buf: Uint8Array, start: number, end: number): [string, string] {
  let key = '';
  let value = '';
  for (const f of fields(buf, start, end)) {
    if (f.field === 1) {
      expectLen(f, 'StringStringEntryProto.key');
      key = str(buf, f);
    } else if (f.field === 2) {
      expectLen(f, 'StringStringEntryProto.value');
      value = str(buf, f);
    }
  }
  return [key, value];
}

class Walker {
  readonly external: ExternalTensorRef[] = [];
  constructor(private readonly buf: Uint8Array) {}

  tensor(start: number, end: number, where: string): void {
    let name = '';
    let location: string | undefined;
    let external = false;
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 8) {
        expectLen(f, 'TensorProto.name');
        name = str(this.buf, f);
      } else if (f.field === 13) {
        expectLen(f, 'TensorProto.external_data');
        external = true;
        const [k, v] = readStringEntry(this.buf, f.start, f.end);
        if (k === 'location') location = v;
      } else if (f.field === 14) {
        expectVarint(f, 'TensorProto.data_location');
        if (f.value !== 0) external = true;
      }
    }
    if (external) {
      const ref: ExternalTensorRef = { name, where };
      if (location !== undefined) ref.location = location;
      this.external.push(ref);
    }
  }

  sparseTensor(start: number, end: number, where: string): void {
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 1 || f.field === 2) {
        expectLen(f, 'SparseTensorProto.values/indices');
        this.tensor(f.start, f.end, where);
      }
    }
  }

  attribute(start: number, end: number, where: string, depth: number): void {
    let name = '';
    const deferred: Field[] = [];
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 1) {
        expectLen(f, 'AttributeProto.name');
        name = str(this.buf, f);
      } else if ([5, 6, 10, 11, 22, 23].includes(f.field)) {
        expectLen(f, 'AttributeProto value');
        deferred.push(f);
      }
    }
    const here = `${where} attribute ${name || '?'}`;
    for (const f of deferred) {
      if (f.field === 5 || f.field === 10) this.tensor(f.start, f.end, here);
      else if (f.field === 22 || f.field === 23) this.sparseTensor(f.start, f.end, here);
      else this.graph(f.start, f.end, `${here} subgraph`, depth + 1);
    }
  }

  node(start: number, end: number, where: string, depth: number): void {
    let name = '';
    let op = '';
    const attrs: Field[] = [];
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 3) {
        expectLen(f, 'NodeProto.name');
        name = str(this.buf, f);
      } else if (f.field === 4) {
        expectLen(f, 'NodeProto.op_type');
        op = str(this.buf, f);
      } else if (f.field === 5) {
        expectLen(f, 'NodeProto.attribute');
        attrs.push(f);
      }
    }
    for (const a of attrs) this.attribute(a.start, a.end, `${where} node ${name || op || '?'}`, depth);
  }

  /** Returns the number of nodes and initializers. */
  graph(start: number, end: number, where: string, depth: number): { nodes: number; initializers: number } {
    if (depth > MAX_DEPTH) throw new OnnxParseError(`subgraphs nested deeper than ${MAX_DEPTH} levels`);
    let nodes = 0;
    let initializers = 0;
    for (const f of fields(this.buf, start, end)) {
      switch (f.field) {
        case 1:
          expectLen(f, 'GraphProto.node');
          nodes++;
          this.node(f.start, f.end, where, depth);
          break;
        case 5:
          expectLen(f, 'GraphProto.initializer');
          initializers++;
          this.tensor(f.start, f.end, `${where}.initializer`);
          break;
        case 15:
          expectLen(f, 'GraphProto.sparse_initializer');
          initializers++;
          this.sparseTensor(f.start, f.end, `${where}.sparse_initializer`);
          break;
        default:
          break;
      }
    }
    return { nodes, initializers };
  }

  fn(start: number, end: number, depth: number): void {
    let name = '';
    const nodes: Field[] = [];
    const defaults: Field[] = [];
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 1) {
        expectLen(f, 'FunctionProto.name');
        name = str(this.buf, f);
      } else if (f.field === 7) {
        expectLen(f, 'FunctionProto.node');
        nodes.push(f);
      } else if (f.field === 11) {
        expectLen(f, 'FunctionProto.attribute_proto');
        defaults.push(f);
      }
    }
    const where = `function ${name || '?'}`;
    for (const n of nodes) this.node(n.start, n.end, where, depth);
    for (const a of defaults) this.attribute(a.start, a.end, `${where} default`, depth);
  }

  trainingInfo(start: number, end: number, depth: number): void {
    for (const f of fields(this.buf, start, end)) {
      if (f.field === 1 || f.field === 2) {
        expectLen(f, 'TrainingInfoProto graph');
        this.graph(f.start, f.end, 'training_info graph', depth + 1);
      }
    }
  }
}

/**
 * Parse the parts of an ONNX ModelProto that policy-gate checks before loading it.
 * Throws OnnxParseError when the bytes are not a well-formed ModelProto with a graph.
 */
export function inspectOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  if (bytes.length === 0) throw new OnnxParseError('the file is empty');
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    throw new OnnxParseError('the file is a zip archive (a PyTorch checkpoint saved with torch.save?), not an ONNX model');
  }
  const walker = new Walker(bytes);
  const info: OnnxModelInfo = { opsets: [], metadata: {}, nodes: 0, initializers: 0, externalTensors: walker.external };
  let graphSeen = false;
  for (const f of fields(bytes, 0, bytes.length)) {
    switch (f.field) {
      case 1:
        expectVarint(f, 'ModelProto.ir_version');
        info.irVersion = f.value;
        break;
      case 2:
        expectLen(f, 'ModelProto.producer_name');
        info.producerName = str(bytes, f);
        break;
      case 3:
        expectLen(f, 'ModelProto.producer_version');
        info.producerVersion = str(bytes, f);
        break;
      case 7: {
        expectLen(f, 'ModelProto.graph');
        graphSeen = true;
        const g = walker.graph(f.start, f.end, 'graph', 0);
        info.nodes += g.nodes;
        info.initializers += g.initializers;
        break;
      }
      case 8: {
        expectLen(f, 'ModelProto.opset_import');
        const op: OnnxOpset = { domain: '', version: 0 };
        for (const g of fields(bytes, f.start, f.end)) {
          if (g.field === 1) {
            expectLen(g, 'OperatorSetIdProto.domain');
            op.domain = str(bytes, g);
          } else if (g.field === 2) {
            expectVarint(g, 'OperatorSetIdProto.version');
            op.version = g.value;
          }
        }
        info.opsets.push(op);
        break;
      }
      case 14: {
        expectLen(f, 'ModelProto.metadata_props');
        const [k, v] = readStringEntry(bytes, f.start, f.end);
        // defineProperty: a key such as "__proto__" becomes an ordinary own property
        Object.defineProperty(info.metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
        break;
      }
      case 20:
        expectLen(f, 'ModelProto.training_info');
        walker.trainingInfo(f.start, f.end, 0);
        break;
      case 25:
        expectLen(f, 'ModelProto.functions');
        walker.fn(f.start, f.end, 0);
        break;
      default:
        break;
    }
  }
  if (!graphSeen) throw new OnnxParseError('no graph found (is this an ONNX model?)');
  return info;
}
