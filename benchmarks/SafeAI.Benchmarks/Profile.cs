using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using SafeAI.Onnx;

namespace SafeAI.Benchmarks;

internal static class Profile
{
    public static async Task<int> RunAsync(string[] args)
    {
        var from = int.Parse(args[0], CultureInfo.InvariantCulture);
        var texts = DefaultModelBenchmarks.LoadChatTraffic().Where(t => t.Length >= from).ToArray();
        foreach (var path in args.Skip(1))
        {
            using var model = path == "default" ? ContentModel.LoadDefault() : ContentModel.Load(path);
            var filter = new ContentClassifier(model, new ContentFilterOptions());
            var ens = (EnsembleContentModel)model;
            OnnxContentModel F(string n) => (OnnxContentModel)typeof(EnsembleContentModel).GetField(n, BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(ens)!;
            var screen = F("_screen");
            var gate = F("_gate");
            var encoder = F("_encoder");
            Console.WriteLine(path);
            foreach (var text in texts)
            {
                double Med(Action a)
                {
                    a();
                    var t = new double[5];
                    for (var i = 0; i < 5; i++)
                    {
                        var sw = Stopwatch.StartNew();
                        a();
                        t[i] = sw.Elapsed.TotalMilliseconds;
                    }

                    Array.Sort(t);
                    return t[2];
                }

                var total = Med(() => filter.AssessAsync([text], CancellationToken.None).AsTask().GetAwaiter().GetResult());
                string norm = "";
                var tNorm = Med(() => norm = TextNormalizer.Normalize(text));
                List<int[]> windows = [];
                var tWin = Med(() => windows = model.CreateWindows(norm, 0, 64, out _));
                var packed = windows.Where(w => !EnsembleContentModel.IsSentenceWindow(w)).Select(w => w.AsSpan(1, EnsembleContentModel.TokenCount(w)).ToArray()).ToArray();
                var sents = windows.Where(EnsembleContentModel.IsSentenceWindow).Select(w => w.AsSpan(1, EnsembleContentModel.TokenCount(w)).ToArray()).ToArray();
                var tScreen = Med(() => screen.ScoreNow(packed, CancellationToken.None));
                var tGate = Med(() => gate.ScoreNow(packed, CancellationToken.None));
                var tEnc = Med(() => encoder.ScoreNow(packed, CancellationToken.None));
                var tGateS = Med(() => gate.ScoreNow(sents, CancellationToken.None));
                var tEncS = Med(() => encoder.ScoreNow(sents, CancellationToken.None));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {text.Length}c: total {total:F1} | normalize {tNorm:F2} windows {tWin:F2} | packed {packed.Length} (avg {packed.Average(p => p.Length):F0} tok): screen {tScreen:F2} gate {tGate:F2} enc {tEnc:F2} | sentences {sents.Length} (avg {(sents.Length > 0 ? sents.Average(p => p.Length) : 0):F0} tok): gate {tGateS:F2} enc {tEncS:F2}"));
            }
        }

        return 0;
    }
}
