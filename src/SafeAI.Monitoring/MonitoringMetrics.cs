namespace SafeAI.Monitoring;

/// <summary>
/// The names of the metrics the monitoring stage records for every call, and the derived metrics alert rules can watch.
/// </summary>
/// <remarks>
/// <para>Counters (per time bucket, per rollout arm): <see cref="Calls"/>, one per outcome (<see cref="Allow"/>,
/// <see cref="Modify"/>, <see cref="Degrade"/>, <see cref="Escalate"/>, <see cref="Limit"/>, <see cref="Block"/>),
/// <see cref="Error"/>, <see cref="Success"/>, <see cref="Fallback"/>, <see cref="LowConfidence"/>,
/// <see cref="FeedbackUp"/>, <see cref="FeedbackDown"/>, and any business counter added with
/// <see cref="MetricsRecorder.Increment(string, long, string?)"/>.</para>
/// <para>Derived: <c>{counter}.rate</c> is the counter divided by <see cref="Calls"/> (for <c>feedback.up.rate</c> and
/// <c>feedback.down.rate</c>, by the calls that got feedback); <c>latency.mean</c>, <c>latency.p50</c>,
/// <c>latency.p95</c> and <c>latency.p99</c> are in milliseconds; a value recorded with
/// <see cref="MetricsRecorder.RecordValue(string, double)"/> (a drift score, a business figure) is averaged over the window.</para>
/// </remarks>
public static class MonitoringMetrics
{
    /// <summary>Calls that passed the monitoring stage.</summary>
    public const string Calls = "calls";

    /// <summary>Calls whose outcome was Allow.</summary>
    public const string Allow = "allow";

    /// <summary>Calls whose outcome was Modify (for example redacted).</summary>
    public const string Modify = "modify";

    /// <summary>Calls whose outcome was Degrade (a fallback answered).</summary>
    public const string Degrade = "degrade";

    /// <summary>Calls whose outcome was Escalate (human review).</summary>
    public const string Escalate = "escalate";

    /// <summary>Calls whose outcome was Limit (rate or budget limit).</summary>
    public const string Limit = "limit";

    /// <summary>Calls whose outcome was Block.</summary>
    public const string Block = "block";

    /// <summary>Calls that ended in an exception.</summary>
    public const string Error = "error";

    /// <summary>Calls the AI answered: outcome Allow or Modify, no fallback, no exception.</summary>
    public const string Success = "success";

    /// <summary>Calls a fallback answered (a Degrade verdict of any stage).</summary>
    public const string Fallback = "fallback";

    /// <summary>Calls whose confidence estimate was below the threshold.</summary>
    public const string LowConfidence = "confidence.low";

    /// <summary>Thumbs-up feedback.</summary>
    public const string FeedbackUp = "feedback.up";

    /// <summary>Thumbs-down feedback.</summary>
    public const string FeedbackDown = "feedback.down";

    /// <summary>The suffix of a rate: <c>block.rate</c> is blocked calls per call.</summary>
    public const string RateSuffix = ".rate";
}
