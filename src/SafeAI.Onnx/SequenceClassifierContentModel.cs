using Microsoft.ML.OnnxRuntime;

namespace SafeAI.Onnx;

/// <summary>The <c>sequence-classifier</c> kind: an ONNX text classifier with one logit per label (sigmoid or softmax).</summary>
internal sealed class SequenceClassifierContentModel : OnnxContentModel
{
    public SequenceClassifierContentModel(ModelDescription description, ModelFiles files, OnnxRuntimeOptions options)
        : base(description, files, options, description.Labels.Where(static l => l is not null).Select(static l => l!).ToArray())
    {
        Start(files, options);
    }

    private protected override void ValidateOutput(string name, int[] dimensions)
    {
        var labels = Description.Labels.Count;
        if (dimensions.Length != 2 || (dimensions[1] > 0 && dimensions[1] != labels))
        {
            throw new ContentModelException(name, $"output '{Description.Output}' has shape [{string.Join(", ", dimensions)}]; the description's {labels} labels need [batch, {labels}].");
        }
    }

    private protected override float[] ReadOutput(OrtValue output, long[] mask, int count, int seq, bool embeddingsOnly)
    {
        var data = output.GetTensorDataAsSpan<float>();
        var shape = output.GetTensorTypeAndShape().Shape;
        var labels = Description.Labels;
        if (shape.Length != 2 || shape[1] != labels.Count || shape[0] != count)
        {
            throw new ContentModelException(Description.Model, $"output '{Description.Output}' has shape [{string.Join(", ", shape)}]; expected [batch, {labels.Count}] (one logit per label).");
        }

        var categories = CategoryArray.Length;
        var softmax = Description.Softmax;
        var scores = new float[count * categories];
        for (var b = 0; b < count; b++)
        {
            var row = data.Slice(b * labels.Count, labels.Count);
            var max = float.NegativeInfinity;
            var sum = 0f;
            if (softmax)
            {
                foreach (var v in row)
                {
                    max = MathF.Max(max, v);
                }

                foreach (var v in row)
                {
                    sum += MathF.Exp(v - max);
                }
            }

            var c = 0;
            for (var l = 0; l < labels.Count; l++)
            {
                if (labels[l] is null)
                {
                    continue;
                }

                scores[(b * categories) + c++] = softmax ? MathF.Exp(row[l] - max) / sum : Sigmoid(row[l]);
            }
        }

        return scores;
    }
}
