using System.Text;

namespace SafeAI.Onnx.Tests.Infrastructure;

/// <summary>
/// A minimal writer of the ONNX protobuf format (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto,
/// AttributeProto), enough to build small real models in the tests that ONNX Runtime then runs.
/// </summary>
internal sealed class OnnxWriter
{
    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _initializers = [];
    private readonly List<byte[]> _inputs = [];
    private readonly List<byte[]> _outputs = [];

    public const int Float = 1;
    public const int Int64 = 7;

    /// <summary>Adds a graph input; a dimension of null is symbolic (named <paramref name="symbols"/>).</summary>
    public OnnxWriter Input(string name, int elemType, params object[] dims) { _inputs.Add(ValueInfo(name, elemType, dims)); return this; }

    public OnnxWriter Output(string name, int elemType, params object[] dims) { _outputs.Add(ValueInfo(name, elemType, dims)); return this; }

    public OnnxWriter FloatTensor(string name, long[] dims, float[] data)
    {
        var m = new Message();
        foreach (var d in dims) { m.Varint(1, d); }
        m.Varint(2, Float);
        var raw = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, raw, 0, raw.Length);
        m.String(8, name);
        m.Bytes(9, raw);
        _initializers.Add(m.ToArray());
        return this;
    }

    public OnnxWriter Int64Tensor(string name, long[] dims, long[] data)
    {
        var m = new Message();
        foreach (var d in dims) { m.Varint(1, d); }
        m.Varint(2, Int64);
        var raw = new byte[data.Length * 8];
        Buffer.BlockCopy(data, 0, raw, 0, raw.Length);
        m.String(8, name);
        m.Bytes(9, raw);
        _initializers.Add(m.ToArray());
        return this;
    }

    public OnnxWriter Node(string op, string[] inputs, string[] outputs, params (string Name, long Value)[] intAttributes)
    {
        var m = new Message();
        foreach (var i in inputs) { m.String(1, i); }
        foreach (var o in outputs) { m.String(2, o); }
        m.String(3, op + "_" + _nodes.Count);
        m.String(4, op);
        foreach (var (name, value) in intAttributes)
        {
            var a = new Message();
            a.String(1, name);
            a.Varint(3, value);
            a.Varint(20, 2); // AttributeProto.INT
            m.Bytes(5, a.ToArray());
        }

        _nodes.Add(m.ToArray());
        return this;
    }

    public OnnxWriter NodeWithInts(string op, string[] inputs, string[] outputs, string attribute, long[] values, params (string Name, long Value)[] intAttributes)
    {
        Node(op, inputs, outputs, intAttributes);
        var a = new Message();
        a.String(1, attribute);
        foreach (var v in values) { a.Varint(8, v); }
        a.Varint(20, 7); // AttributeProto.INTS
        var node = new Message();
        node.Bytes(5, a.ToArray());
        var last = _nodes[^1];
        _nodes[^1] = [.. last, .. node.ToArray()];
        return this;
    }

    public byte[] Build(long opset = 13)
    {
        var graph = new Message();
        foreach (var n in _nodes) { graph.Bytes(1, n); }
        graph.String(2, "test-graph");
        foreach (var t in _initializers) { graph.Bytes(5, t); }
        foreach (var i in _inputs) { graph.Bytes(11, i); }
        foreach (var o in _outputs) { graph.Bytes(12, o); }

        var opsetId = new Message();
        opsetId.String(1, string.Empty);
        opsetId.Varint(2, opset);

        var model = new Message();
        model.Varint(1, 7); // ir_version
        model.String(2, "safeai-tests");
        model.Bytes(7, graph.ToArray());
        model.Bytes(8, opsetId.ToArray());
        return model.ToArray();
    }

    private static byte[] ValueInfo(string name, int elemType, object[] dims)
    {
        var shape = new Message();
        foreach (var d in dims)
        {
            var dim = new Message();
            if (d is string symbol) { dim.String(2, symbol); } else { dim.Varint(1, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture)); }
            shape.Bytes(1, dim.ToArray());
        }

        var tensor = new Message();
        tensor.Varint(1, elemType);
        tensor.Bytes(2, shape.ToArray());
        var type = new Message();
        type.Bytes(1, tensor.ToArray());
        var info = new Message();
        info.String(1, name);
        info.Bytes(2, type.ToArray());
        return info.ToArray();
    }

    internal sealed class Message
    {
        private readonly MemoryStream _stream = new();

        public void Varint(int field, long value) { Tag(field, 0); Raw((ulong)value); }

        public void Float(int field, float value) { Tag(field, 5); _stream.Write(BitConverter.GetBytes(value)); }

        public void Bytes(int field, byte[] value) { Tag(field, 2); Raw((ulong)value.Length); _stream.Write(value); }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public byte[] ToArray() => _stream.ToArray();

        private void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }
    }
}
