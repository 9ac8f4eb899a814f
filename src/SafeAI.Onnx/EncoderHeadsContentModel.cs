using Microsoft.ML.OnnxRuntime;

namespace SafeAI.Onnx;

/// <summary>The <c>encoder-heads</c> kind: a sentence-embedding encoder in ONNX, pooled (and normalised), then one linear head per category.</summary>
internal sealed class EncoderHeadsContentModel : OnnxContentModel
{
    private readonly int _embeddingSize;

    public EncoderHeadsContentModel(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
        : base(description, files, options, description.Heads.Select(static h => h.Category).ToArray())
    {
        _embeddingSize = description.Heads[0].Weights.Length;
        Start(files, options);
    }

    internal int EmbeddingSize => _embeddingSize;

    /// <summary>Returns the pooled (and normalised, if the description says so) embedding of each window: the input of the heads, for fitting new heads.</summary>
    internal float[] Embed(IReadOnlyList<int[]> windows, CancellationToken cancellationToken) =>
        Run(windows, 0, windows.Count, cancellationToken, embeddingsOnly: true);

    private protected override void ValidateOutput(string name, int[] dimensions)
    {
        var size = _embeddingSize;
        var rankOk = Description.Pooling == Pooling.None ? dimensions.Length == 2 : dimensions.Length is 2 or 3;
        if (!rankOk || (dimensions[^1] > 0 && dimensions[^1] != size))
        {
            throw new ContentModelException(name, $"output '{Description.Output}' has shape [{string.Join(", ", dimensions)}]; the heads have {size} weights, so it must be [batch, tokens, {size}] (pooled) or [batch, {size}].");
        }
    }

    private protected override float[] ReadOutput(OrtValue output, long[] mask, int count, int seq, bool embeddingsOnly)
    {
        var data = output.GetTensorDataAsSpan<float>();
        var shape = output.GetTensorTypeAndShape().Shape;
        var dim = _embeddingSize;
        var expected = shape.Length == 3 ? (long)count * seq * dim : (long)count * dim;
        if ((shape.Length != 3 && shape.Length != 2) || shape[^1] != dim || data.Length != expected)
        {
            throw new ContentModelException(Description.Model, $"output '{Description.Output}' has shape [{string.Join(", ", shape)}]; expected [batch, tokens, {dim}] or [batch, {dim}].");
        }

        var heads = Description.Heads;
        var scores = new float[count * (embeddingsOnly ? dim : heads.Count)];
        Span<float> pooled = dim <= 2048 ? stackalloc float[dim] : new float[dim];
        for (var b = 0; b < count; b++)
        {
            pooled.Clear();
            if (shape.Length == 2)
            {
                data.Slice(b * dim, dim).CopyTo(pooled);
            }
            else if (Description.Pooling == Pooling.Cls)
            {
                data.Slice(b * seq * dim, dim).CopyTo(pooled);
            }
            else
            {
                var n = 0;
                for (var t = 0; t < seq; t++)
                {
                    if (mask[(b * seq) + t] == 0)
                    {
                        continue;
                    }

                    n++;
                    var token = data.Slice(((b * seq) + t) * dim, dim);
                    for (var d = 0; d < dim; d++)
                    {
                        pooled[d] += token[d];
                    }
                }

                for (var d = 0; d < dim; d++)
                {
                    pooled[d] /= Math.Max(1, n);
                }
            }

            if (Description.Normalize)
            {
                var norm = 0f;
                foreach (var v in pooled)
                {
                    norm += v * v;
                }

                norm = MathF.Max(MathF.Sqrt(norm), 1e-12f);
                for (var d = 0; d < dim; d++)
                {
                    pooled[d] /= norm;
                }
            }

            if (embeddingsOnly)
            {
                pooled.CopyTo(scores.AsSpan(b * dim, dim));
                continue;
            }

            for (var h = 0; h < heads.Count; h++)
            {
                var head = heads[h];
                var z = head.Bias;
                for (var d = 0; d < dim; d++)
                {
                    z += head.Weights[d] * pooled[d];
                }

                scores[(b * heads.Count) + h] = Sigmoid(z);
            }
        }

        return scores;
    }
}
