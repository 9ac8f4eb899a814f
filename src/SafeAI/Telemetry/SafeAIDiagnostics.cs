namespace SafeAI;

/// <summary>
/// Names of SafeAI's telemetry, for subscribing with OpenTelemetry or a <c>MeterListener</c>:
/// <c>.WithMetrics(m =&gt; m.AddMeter(SafeAIDiagnostics.MeterName))</c> and
/// <c>.WithTracing(t =&gt; t.AddSource(SafeAIDiagnostics.ActivitySourceName))</c>.
/// </summary>
public static class SafeAIDiagnostics
{
    /// <summary>The name of SafeAI's <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    public const string MeterName = "SafeAI";

    /// <summary>The name of SafeAI's <see cref="System.Diagnostics.ActivitySource"/>.</summary>
    public const string ActivitySourceName = "SafeAI";

    /// <summary>Counter of verdicts, tagged <see cref="StageTag"/>, <see cref="ActionTag"/> and <see cref="ReasonTag"/>.</summary>
    public const string VerdictsInstrument = "safeai.guard.verdicts";

    /// <summary>Histogram of the time each stage took to decide, in seconds, tagged <see cref="StageTag"/> and <see cref="ActionTag"/>.</summary>
    public const string StageDurationInstrument = "safeai.guard.duration";

    /// <summary>Counter of calls by outcome, tagged <see cref="OutcomeTag"/> and <see cref="StreamingTag"/>.</summary>
    public const string CallsInstrument = "safeai.calls";

    /// <summary>The name of the span SafeAI starts for each call.</summary>
    public const string CallActivityName = "safeai.chat";

    /// <summary>The name of the span event recorded for each verdict.</summary>
    public const string VerdictEventName = "safeai.verdict";

    /// <summary>Tag: stage name.</summary>
    public const string StageTag = "safeai.stage";

    /// <summary>Tag: verdict action (<c>allow</c>, <c>block</c>, ...).</summary>
    public const string ActionTag = "safeai.action";

    /// <summary>Tag: verdict reason code.</summary>
    public const string ReasonTag = "safeai.reason";

    /// <summary>Tag: call outcome.</summary>
    public const string OutcomeTag = "safeai.outcome";

    /// <summary>Tag: <c>true</c> for streaming calls.</summary>
    public const string StreamingTag = "safeai.streaming";

    /// <summary>
    /// Counter of text windows a content model with a gate or a screen scored (SafeAI.Onnx's default model has both), tagged
    /// <see cref="ContentScorerTag"/>: <c>screen</c> for every window of a model with a screen, <c>gate</c> for the windows
    /// the screen sent on (every window without a screen), <c>encoder</c> for the windows the gate sent on. Their ratios
    /// are the shares of traffic paying for the larger models; they rise with the share of suspect text.
    /// </summary>
    public const string ContentWindowsInstrument = "safeai.content.windows";

    /// <summary>
    /// Counter of the windows of long texts that a description's limit (<c>"maxGateWindows"</c>, <c>"maxEncoderWindows"</c>)
    /// kept from a gated content model's gate or encoder, tagged <see cref="ContentScorerTag"/> with the member it kept
    /// them from. Such a window keeps the scores of the member before; a rising count means more long, suspect-looking text.
    /// </summary>
    public const string ContentWindowsHeldBackInstrument = "safeai.content.windows.held_back";

    /// <summary>Tag: which model of a gated content model scored a window (<c>screen</c>, <c>gate</c> or <c>encoder</c>).</summary>
    public const string ContentScorerTag = "safeai.content.scorer";
}
