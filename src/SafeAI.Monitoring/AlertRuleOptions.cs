using Microsoft.Extensions.Configuration;

namespace SafeAI.Monitoring;

/// <summary>
/// One alert rule, as written in configuration (<c>SafeAI:Monitoring:Rules</c>) or a rules file
/// (<c>{"rules": [{"name": "thumbs-down-up-15pct", "metric": "feedback.down.rate", "compare": "previous-7-days", "relative_increase": 0.15}]}</c>).
/// Keys are the snake_case names shown on each property, in both places.
/// </summary>
/// <remarks>
/// <para>The kind follows from the keys: <c>above</c>/<c>below</c> make a threshold rule, <c>compare</c> with
/// <c>relative_increase</c>/<c>relative_decrease</c> a relative rule, <c>kind: "absence"</c> an absence rule.</para>
/// <para>Durations are <c>"00:10:00"</c>; rules files also take <c>"10m"</c>, <c>"1h"</c>, <c>"7d"</c>.</para>
/// </remarks>
public sealed class AlertRuleOptions
{
    /// <summary>Gets or sets the rule's name (<c>name</c>): unique, letters, digits, '.', '_' or '-'.</summary>
    [ConfigurationKeyName("name")]
    public string? Name { get; set; }

    /// <summary>Gets or sets the metric (<c>metric</c>), for example <c>block.rate</c>, <c>feedback.down.rate</c>, <c>success.rate</c>, <c>latency.p95</c>, <c>calls</c>, a business counter or a recorded value; see <see cref="MonitoringMetrics"/>.</summary>
    [ConfigurationKeyName("metric")]
    public string? Metric { get; set; }

    /// <summary>Gets or sets the counters a rate is divided by (<c>denominator</c>), joined with '+' (default <c>calls</c>; <c>feedback.up+feedback.down</c> for feedback rates).</summary>
    [ConfigurationKeyName("denominator")]
    public string? Denominator { get; set; }

    /// <summary>Gets or sets the kind (<c>kind</c>): <c>threshold</c>, <c>relative</c> or <c>absence</c>; inferred from the other keys when not set.</summary>
    [ConfigurationKeyName("kind")]
    public string? Kind { get; set; }

    /// <summary>
    /// Gets or sets whose traffic the rule judges (<c>scope</c>): <c>instance</c> (the default: this app instance's own
    /// calls) or <c>fleet</c> (every instance's calls, summed from the shared metrics store by the instances that run
    /// fleet rules, <see cref="FleetOptions.Enabled"/>).
    /// </summary>
    [ConfigurationKeyName("scope")]
    public string? Scope { get; set; }

    /// <summary>Gets or sets the rollout arm to watch (<c>arm</c>); all calls when not set.</summary>
    [ConfigurationKeyName("arm")]
    public string? Arm { get; set; }

    /// <summary>Gets or sets the window the value is computed over (<c>window</c>): default 10 minutes for threshold rules, 1 hour for relative rules (also the width of each baseline window), 5 minutes for absence rules.</summary>
    [ConfigurationKeyName("window")]
    public TimeSpan? Window { get; set; }

    /// <summary>Gets or sets the width of each baseline window of a relative rule (<c>baseline_window</c>), centred on the time of day of the current window: default the larger of <c>window</c> and 4 hours, so that rarely rated calls still give a steady baseline. Not used with <c>previous-window</c>.</summary>
    [ConfigurationKeyName("baseline_window")]
    public TimeSpan? BaselineWindow { get; set; }

    /// <summary>Gets or sets the threshold a threshold rule fires above (<c>above</c>); for a rate, a proportion (0.05 = 5 %).</summary>
    [ConfigurationKeyName("above")]
    public double? Above { get; set; }

    /// <summary>Gets or sets the threshold a threshold rule fires below (<c>below</c>).</summary>
    [ConfigurationKeyName("below")]
    public double? Below { get; set; }

    /// <summary>Gets or sets the baseline of a relative rule (<c>compare</c>): <c>previous-7-days</c> (the same time of day on each of the 7 previous days), <c>same-hour-last-week</c>, <c>previous-day</c> or <c>previous-window</c>.</summary>
    [ConfigurationKeyName("compare")]
    public string? Compare { get; set; }

    /// <summary>Gets or sets the relative rise a relative rule detects (<c>relative_increase</c>; 0.15 = 15 % above the baseline).</summary>
    [ConfigurationKeyName("relative_increase")]
    public double? RelativeIncrease { get; set; }

    /// <summary>Gets or sets the relative fall a relative rule detects (<c>relative_decrease</c>; 0.15 = 15 % below the baseline).</summary>
    [ConfigurationKeyName("relative_decrease")]
    public double? RelativeDecrease { get; set; }

    /// <summary>Gets or sets the fewest samples a verdict needs (<c>min_samples</c>): calls (or rated calls) in the window for threshold rules, in the baseline for relative rules (default 100; 1 for absence rules).</summary>
    [ConfigurationKeyName("min_samples")]
    public long? MinSamples { get; set; }

    /// <summary>Gets or sets the false-alarm level (<c>alpha</c>): for a threshold rule on a rate, the one-sided level of the Wilson bound (default 0.001); for a relative rule on a rate, the level of the sequential test (default 1e-6, about one false alarm per million looks).</summary>
    [ConfigurationKeyName("alpha")]
    public double? Alpha { get; set; }

    /// <summary>Gets or sets how long the condition must be clear before a firing alert resolves (<c>resolve_after</c>; default 15 minutes).</summary>
    [ConfigurationKeyName("resolve_after")]
    public TimeSpan? ResolveAfter { get; set; }

    /// <summary>Gets or sets how often a firing alert is announced again (<c>repeat_after</c>; default 4 hours).</summary>
    [ConfigurationKeyName("repeat_after")]
    public TimeSpan? RepeatAfter { get; set; }

    /// <summary>Gets the actions (<c>actions</c>) taken when the rule fires (and, for log, webhook and callback, when it resolves). None: the alert is logged.</summary>
    [ConfigurationKeyName("actions")]
    public IList<AlertActionOptions> Actions { get; } = [];
}

/// <summary>One action of an alert rule.</summary>
public sealed class AlertActionOptions
{
    /// <summary>Gets or sets the action (<c>type</c>): <c>log</c>, <c>webhook</c>, <c>callback</c>, <c>kill-switch</c>, <c>rollout-abort</c>, <c>rollout-stop</c> or <c>tighten</c>.</summary>
    [ConfigurationKeyName("type")]
    public string? Type { get; set; }

    /// <summary>Gets or sets the webhook's address (<c>url</c>; http or https).</summary>
    [ConfigurationKeyName("url")]
    public Uri? Url { get; set; }

    /// <summary>Gets or sets the name of the environment variable that holds the webhook's signing secret (<c>secret_env</c>). Secrets never go in configuration files.</summary>
    [ConfigurationKeyName("secret_env")]
    public string? SecretEnvironmentVariable { get; set; }

    /// <summary>Gets or sets the name of a callback registered in code with <see cref="MonitoringOptions.Callbacks"/> (<c>callback</c>).</summary>
    [ConfigurationKeyName("callback")]
    public string? Callback { get; set; }

    /// <summary>Gets or sets what <c>tighten</c> changes (<c>target</c>): <c>confidence</c> (the confidence stage's threshold).</summary>
    [ConfigurationKeyName("target")]
    public string? Target { get; set; }

    /// <summary>Gets or sets the stricter value <c>tighten</c> sets (<c>value</c>).</summary>
    [ConfigurationKeyName("value")]
    public double? Value { get; set; }
}
