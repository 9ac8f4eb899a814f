using System.Diagnostics.Metrics;

namespace SafeAI.Onnx.Tests.Infrastructure;

/// <summary>
/// Listens to the <c>safeai.content.windows</c> counter while it lives and sums its measurements by the
/// <c>safeai.content.scorer</c> tag (screen, gate, encoder). The counter is process-wide, so other tests' models running
/// at the same time add to it as well: assert lower bounds only.
/// </summary>
internal sealed class WindowCounts : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public WindowCounts(string instrumentName = SafeAIDiagnostics.ContentWindowsInstrument)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SafeAIDiagnostics.MeterName && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == SafeAIDiagnostics.ContentScorerTag && tag.Value is string scorer)
                {
                    lock (_counts)
                    {
                        _counts[scorer] = _counts.GetValueOrDefault(scorer) + value;
                    }
                }
            }
        });
        _listener.Start();
    }

    /// <summary>The windows counted so far for <paramref name="scorer"/> (0 when none).</summary>
    public long this[string scorer]
    {
        get
        {
            lock (_counts)
            {
                return _counts.GetValueOrDefault(scorer);
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
