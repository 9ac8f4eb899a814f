using Microsoft.Extensions.Options;

namespace SafeAI.Monitoring;

/// <summary>
/// Settings of SafeAI monitoring, bound from <c>SafeAI:Monitoring</c>: the alert rules, how often they are evaluated,
/// the metrics store's buckets, and (in code) callbacks and rules with actions of your own.
/// </summary>
/// <example>
/// <code>
/// "SafeAI": { "Monitoring": {
///   "EvaluationInterval": "00:01:00",
///   "Rules": [
///     { "name": "thumbs-down-up-15pct", "metric": "feedback.down.rate", "compare": "previous-7-days", "relative_increase": 0.15 },
///     { "name": "block-rate-high", "metric": "block.rate", "above": 0.05, "window": "00:10:00",
///       "actions": [ { "type": "webhook", "url": "https://ops.example.com/hooks/safeai", "secret_env": "SAFEAI_WEBHOOK_SECRET" } ] },
///     { "name": "no-success", "metric": "success", "kind": "absence", "window": "00:05:00", "actions": [ { "type": "kill-switch" } ] } ] } }
/// </code>
/// </example>
public sealed class MonitoringOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "SafeAI:Monitoring";

    private readonly List<AlertRule> _codeRules = [];

    /// <summary>Gets or sets how often rules are evaluated (default one minute; at least one second).</summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets the rules from configuration (or added here in code).</summary>
    public IList<AlertRuleOptions> Rules { get; } = [];

    /// <summary>Gets the settings of the in-memory metrics store.</summary>
    public MetricsRecorderOptions Metrics { get; } = new();

    /// <summary>Gets the settings of drift detection.</summary>
    public DriftOptions Drift { get; } = new();

    /// <summary>Gets the settings of fleet rules (<c>"scope": "fleet"</c>): whether this instance evaluates them.</summary>
    public FleetOptions Fleet { get; } = new();

    /// <summary>Gets or sets how often the metrics are written to the registered <see cref="IMetricsStore"/>, if any (default 30 seconds).</summary>
    public TimeSpan PersistInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the callbacks that rules name in a <c>callback</c> action. Code only.</summary>
    public IDictionary<string, Func<AlertNotification, CancellationToken, ValueTask>> Callbacks { get; } = new Dictionary<string, Func<AlertNotification, CancellationToken, ValueTask>>(StringComparer.Ordinal);

    internal IReadOnlyList<AlertRule> CodeRules => _codeRules;

    /// <summary>Adds a rule with actions created in code (in addition to any its options list).</summary>
    /// <param name="rule">The rule.</param>
    /// <param name="actions">The actions.</param>
    /// <returns>These options.</returns>
    /// <exception cref="ArgumentException">The rule is invalid.</exception>
    public MonitoringOptions AddRule(AlertRuleOptions rule, params IAlertAction[] actions)
    {
        _codeRules.Add(new AlertRule(rule, actions));
        return this;
    }
}

/// <summary>Validates <see cref="MonitoringOptions"/> at start-up; every problem names its key.</summary>
internal sealed class MonitoringOptionsValidator : IValidateOptions<MonitoringOptions>
{
    public ValidateOptionsResult Validate(string? name, MonitoringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string prefix = MonitoringOptions.SectionName + ":";
        var failures = new List<string>();
        if (options.EvaluationInterval < TimeSpan.FromSeconds(1) || options.EvaluationInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{prefix}EvaluationInterval must be between 00:00:01 and 01:00:00 (it is {options.EvaluationInterval}).");
        }

        if (options.PersistInterval < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{prefix}PersistInterval must be at least 00:00:01 (it is {options.PersistInterval}).");
        }

        try
        {
            options.Metrics.Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            failures.Add($"{prefix}Metrics: {ex.Message.Split(" (Parameter", 2)[0]}");
        }

        if (options.Fleet.Settle < options.Metrics.BucketWidth || options.Fleet.Settle > options.Metrics.Retention)
        {
            failures.Add($"{prefix}Fleet:Settle must be between one bucket ({options.Metrics.BucketWidth}) and the retention ({options.Metrics.Retention}); it is {options.Fleet.Settle}.");
        }

        try
        {
            options.Drift.Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            failures.Add($"{prefix}Drift: {ex.Message.Split(" (Parameter", 2)[0]}");
        }

        var names = new HashSet<string>(options.CodeRules.Select(static r => r.Name), StringComparer.Ordinal);
        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            var path = $"{prefix}Rules:{i}" + (rule?.Name is { Length: > 0 } n ? $" ('{n}')" : string.Empty);
            if (rule is null)
            {
                failures.Add($"{path} is empty.");
                continue;
            }

            failures.AddRange(AlertRule.Validate(rule, path));
            if (rule.Name is { Length: > 0 } ruleName && !names.Add(ruleName))
            {
                failures.Add($"{path}: another rule is named '{ruleName}'; rule names must be unique.");
            }

            foreach (var action in rule.Actions)
            {
                if (string.Equals(action.Type, "callback", StringComparison.OrdinalIgnoreCase) && action.Callback is { Length: > 0 } callback && !options.Callbacks.ContainsKey(callback))
                {
                    failures.Add($"{path}: the callback '{callback}' is not registered; add it in code to MonitoringOptions.Callbacks.");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
