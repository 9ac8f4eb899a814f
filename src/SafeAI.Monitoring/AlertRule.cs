using System.Globalization;

namespace SafeAI.Monitoring;

/// <summary>What an alert rule watches for.</summary>
public enum AlertRuleKind
{
    /// <summary>The metric over a window is above or below a fixed threshold (for a rate: significantly so).</summary>
    Threshold,

    /// <summary>The metric moved by a relative amount against a baseline window (for a rate: a sequential likelihood-ratio test decides).</summary>
    Relative,

    /// <summary>The metric was not seen at all over a window although it usually is.</summary>
    Absence,
}

/// <summary>The baseline a relative rule compares with.</summary>
public enum BaselineComparison
{
    /// <summary>The same time of day on each of the previous 7 days (pooled).</summary>
    Previous7Days,

    /// <summary>The same hour one week earlier.</summary>
    SameHourLastWeek,

    /// <summary>The same time one day earlier.</summary>
    PreviousDay,

    /// <summary>The window just before the current one.</summary>
    PreviousWindow,
}

/// <summary>Whose traffic an alert rule judges.</summary>
public enum AlertRuleScope
{
    /// <summary>This app instance's own calls (its <see cref="MetricsRecorder"/>).</summary>
    Instance,

    /// <summary>Every instance's calls, summed from the shared <see cref="IMetricsStore"/> (<see cref="FleetMetrics"/>).</summary>
    Fleet,
}

/// <summary>
/// A validated alert rule: built from <see cref="AlertRuleOptions"/> (code, configuration or a rules file) plus the
/// actions to take. Immutable and thread-safe; the alert engine keeps each rule's state.
/// </summary>
public sealed class AlertRule
{
    /// <summary>Initializes a new instance of the <see cref="AlertRule"/> class.</summary>
    /// <param name="options">The rule; validated here.</param>
    /// <param name="actions">Actions created in code, taken in addition to the ones <paramref name="options"/> lists (which the alert engine creates).</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The rule is invalid; the message lists every problem.</exception>
    public AlertRule(AlertRuleOptions options, IEnumerable<IAlertAction>? actions = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = Validate(options, options.Name is { Length: > 0 } n ? $"Rule '{n}'" : "Rule");
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        Name = options.Name!;
        Kind = InferKind(options)!.Value;
        Selector = MetricSelector.Parse(options.Metric!, options.Denominator);
        Metric = options.Metric!;
        Arm = string.IsNullOrEmpty(options.Arm) ? null : options.Arm;
        Scope = ParseScope(options.Scope)!.Value;
        Window = options.Window ?? Kind switch
        {
            AlertRuleKind.Threshold => TimeSpan.FromMinutes(10),
            AlertRuleKind.Relative => TimeSpan.FromHours(1),
            _ => TimeSpan.FromMinutes(5),
        };
        BaselineWindow = options.BaselineWindow ?? (Window > TimeSpan.FromHours(4) ? Window : TimeSpan.FromHours(4));
        Above = options.Above;
        Below = options.Below;
        Compare = ParseCompare(options.Compare) ?? BaselineComparison.Previous7Days;
        RelativeChange = options.RelativeIncrease ?? -options.RelativeDecrease ?? 0;
        MinSamples = options.MinSamples ?? (Kind == AlertRuleKind.Absence ? 1 : 100);
        Alpha = options.Alpha ?? (Kind == AlertRuleKind.Relative ? 1e-6 : 0.001);
        ResolveAfter = options.ResolveAfter ?? TimeSpan.FromMinutes(15);
        RepeatAfter = options.RepeatAfter ?? TimeSpan.FromHours(4);
        ActionSpecs = [.. options.Actions];
        Actions = actions is null ? [] : [.. actions];
        foreach (var action in Actions)
        {
            ArgumentNullException.ThrowIfNull(action, nameof(actions));
        }
    }

    /// <summary>Gets whose traffic the rule judges.</summary>
    public AlertRuleScope Scope { get; }

    /// <summary>Gets the rule's name.</summary>
    public string Name { get; }

    /// <summary>Gets the kind.</summary>
    public AlertRuleKind Kind { get; }

    /// <summary>Gets the metric.</summary>
    public string Metric { get; }

    /// <summary>Gets the arm watched, or <see langword="null"/> for all calls.</summary>
    public string? Arm { get; }

    /// <summary>Gets the window.</summary>
    public TimeSpan Window { get; }

    /// <summary>Gets the width of each baseline window of a relative rule.</summary>
    public TimeSpan BaselineWindow { get; }

    /// <summary>Gets the upper threshold of a threshold rule.</summary>
    public double? Above { get; }

    /// <summary>Gets the lower threshold of a threshold rule.</summary>
    public double? Below { get; }

    /// <summary>Gets the baseline of a relative rule.</summary>
    public BaselineComparison Compare { get; }

    /// <summary>Gets the relative change a relative rule detects: positive for a rise, negative for a fall.</summary>
    public double RelativeChange { get; }

    /// <summary>Gets the fewest samples a verdict needs.</summary>
    public long MinSamples { get; }

    /// <summary>Gets the false-alarm level.</summary>
    public double Alpha { get; }

    /// <summary>Gets how long the condition must be clear before the alert resolves.</summary>
    public TimeSpan ResolveAfter { get; }

    /// <summary>Gets how often a firing alert is announced again.</summary>
    public TimeSpan RepeatAfter { get; }

    /// <summary>Gets the actions created in code.</summary>
    public IReadOnlyList<IAlertAction> Actions { get; }

    /// <summary>Gets the actions the options list, which the alert engine creates.</summary>
    public IReadOnlyList<AlertActionOptions> ActionSpecs { get; }

    internal MetricSelector Selector { get; }

    /// <summary>Checks a rule; returns every problem, each naming the rule (through <paramref name="path"/>) and the key.</summary>
    internal static List<string> Validate(AlertRuleOptions o, string path)
    {
        var problems = new List<string>();
        void Problem(string text) => problems.Add($"{path}: {text}");

        if (string.IsNullOrWhiteSpace(o.Name))
        {
            Problem("'name' is required.");
        }
        else if (!IsName(o.Name))
        {
            Problem($"'name' may hold only letters, digits, '.', '_' and '-' (it is '{o.Name}').");
        }

        if (string.IsNullOrWhiteSpace(o.Metric))
        {
            Problem("'metric' is required (for example \"block.rate\", \"feedback.down.rate\", \"latency.p95\").");
        }
        else
        {
            try
            {
                _ = MetricSelector.Parse(o.Metric, o.Denominator);
            }
            catch (ArgumentException ex)
            {
                Problem($"'metric' is invalid: {FirstSentence(ex.Message)}");
            }
        }

        var kind = InferKind(o);
        if (kind is null)
        {
            Problem(o.Kind is { Length: > 0 } k
                ? $"'kind' must be threshold, relative or absence (it is '{k}')."
                : "say what to watch for: 'above' or 'below' (threshold), 'compare' with 'relative_increase' or 'relative_decrease' (relative), or 'kind': 'absence'.");
        }

        if (ParseScope(o.Scope) is null)
        {
            Problem($"'scope' must be instance or fleet (it is '{o.Scope}').");
        }

        if (o.Window is { } w && (w < TimeSpan.FromMinutes(1) || w > TimeSpan.FromDays(1)))
        {
            Problem($"'window' must be between 1 minute and 1 day (it is {w}).");
        }

        if (o.BaselineWindow is { } bw && (bw < TimeSpan.FromMinutes(1) || bw > TimeSpan.FromDays(1)))
        {
            Problem($"'baseline_window' must be between 1 minute and 1 day (it is {bw}).");
        }

        if (o.Compare is { Length: > 0 } compare && ParseCompare(compare) is null)
        {
            Problem($"'compare' must be previous-7-days, same-hour-last-week, previous-day or previous-window (it is '{compare}').");
        }

        if (o.RelativeIncrease is { } up && !(up > 0 && up <= 10))
        {
            Problem($"'relative_increase' must be above 0 and at most 10 (it is {up.ToString(CultureInfo.InvariantCulture)}; 0.15 means 15 %).");
        }

        if (o.RelativeDecrease is { } down && !(down > 0 && down < 1))
        {
            Problem($"'relative_decrease' must be above 0 and below 1 (it is {down.ToString(CultureInfo.InvariantCulture)}; 0.15 means 15 %).");
        }

        if (o.RelativeIncrease is not null && o.RelativeDecrease is not null)
        {
            Problem("set 'relative_increase' or 'relative_decrease', not both (write two rules to watch both ways).");
        }

        if (o.Above is { } a && !double.IsFinite(a) || o.Below is { } b && !double.IsFinite(b))
        {
            Problem("'above' and 'below' must be finite numbers.");
        }

        if (o.Above is { } above && o.Below is { } below && below >= above)
        {
            Problem($"'below' ({below.ToString(CultureInfo.InvariantCulture)}) must be less than 'above' ({above.ToString(CultureInfo.InvariantCulture)}).");
        }

        switch (kind)
        {
            case AlertRuleKind.Threshold when o.Above is null && o.Below is null:
                Problem("a threshold rule needs 'above' or 'below'.");
                break;
            case AlertRuleKind.Relative when o.RelativeIncrease is null && o.RelativeDecrease is null:
                Problem("a relative rule needs 'relative_increase' or 'relative_decrease'.");
                break;
            case AlertRuleKind.Absence when o.Above is not null || o.Below is not null || o.RelativeIncrease is not null || o.RelativeDecrease is not null:
                Problem("an absence rule takes no 'above', 'below' or relative change.");
                break;
            default:
                break;
        }

        if (o.MinSamples is < 1)
        {
            Problem($"'min_samples' must be at least 1 (it is {o.MinSamples}).");
        }

        if (o.Alpha is { } alpha && !(alpha > 0 && alpha < 0.5))
        {
            Problem($"'alpha' must be above 0 and below 0.5 (it is {alpha.ToString(CultureInfo.InvariantCulture)}).");
        }

        if (o.ResolveAfter is { } r && (r < TimeSpan.Zero || r > TimeSpan.FromDays(7)))
        {
            Problem($"'resolve_after' must be between 0 and 7 days (it is {r}).");
        }

        if (o.RepeatAfter is { } rep && (rep < TimeSpan.FromMinutes(1) || rep > TimeSpan.FromDays(30)))
        {
            Problem($"'repeat_after' must be between 1 minute and 30 days (it is {rep}).");
        }

        for (var i = 0; i < o.Actions.Count; i++)
        {
            ValidateAction(o.Actions[i], $"actions[{i.ToString(CultureInfo.InvariantCulture)}]", Problem);
        }

        return problems;
    }

    internal static AlertRuleScope? ParseScope(string? scope) => scope?.ToLowerInvariant() switch
    {
        null or "" or "instance" => AlertRuleScope.Instance,
        "fleet" => AlertRuleScope.Fleet,
        _ => null,
    };

    internal static AlertRuleKind? InferKind(AlertRuleOptions o)
    {
        if (o.Kind is { Length: > 0 } k)
        {
            return k.ToLowerInvariant() switch
            {
                "threshold" => AlertRuleKind.Threshold,
                "relative" => AlertRuleKind.Relative,
                "absence" => AlertRuleKind.Absence,
                _ => null,
            };
        }

        if (o.RelativeIncrease is not null || o.RelativeDecrease is not null || o.Compare is { Length: > 0 })
        {
            return AlertRuleKind.Relative;
        }

        return o.Above is not null || o.Below is not null ? AlertRuleKind.Threshold : null;
    }

    internal static BaselineComparison? ParseCompare(string? compare) => compare?.ToLowerInvariant() switch
    {
        null or "" => null,
        "previous-7-days" => BaselineComparison.Previous7Days,
        "same-hour-last-week" => BaselineComparison.SameHourLastWeek,
        "previous-day" => BaselineComparison.PreviousDay,
        "previous-window" => BaselineComparison.PreviousWindow,
        _ => null,
    };

    internal static string CompareName(BaselineComparison compare) => compare switch
    {
        BaselineComparison.Previous7Days => "previous-7-days",
        BaselineComparison.SameHourLastWeek => "same-hour-last-week",
        BaselineComparison.PreviousDay => "previous-day",
        _ => "previous-window",
    };

    private static void ValidateAction(AlertActionOptions action, string key, Action<string> problem)
    {
        switch (action.Type?.ToLowerInvariant())
        {
            case "log" or "kill-switch" or "rollout-abort" or "rollout-stop":
                break;
            case "webhook":
                if (action.Url is null || !action.Url.IsAbsoluteUri || action.Url.Scheme is not ("http" or "https"))
                {
                    problem($"{key}: a webhook needs an absolute http or https 'url'.");
                }

                if (action.SecretEnvironmentVariable is { Length: 0 })
                {
                    problem($"{key}: 'secret_env' must name an environment variable.");
                }

                break;
            case "callback":
                if (string.IsNullOrWhiteSpace(action.Callback))
                {
                    problem($"{key}: a callback action needs 'callback', the name of a callback registered in code (MonitoringOptions.Callbacks).");
                }

                break;
            case "tighten":
                if (!string.Equals(action.Target, "confidence", StringComparison.OrdinalIgnoreCase))
                {
                    problem($"{key}: 'target' of tighten must be confidence (it is '{action.Target}'); tighten other thresholds with a callback.");
                }

                if (action.Value is not { } v || !(v > 0 && v < 1))
                {
                    problem($"{key}: tighten needs a 'value' above 0 and below 1 (the stricter confidence threshold).");
                }

                break;
            default:
                problem($"{key}: 'type' must be log, webhook, callback, kill-switch, rollout-abort, rollout-stop or tighten (it is '{action.Type}').");
                break;
        }
    }

    private static bool IsName(string name)
    {
        if (name.Length > 100)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static string FirstSentence(string message)
    {
        var paren = message.IndexOf(" (Parameter", StringComparison.Ordinal);
        return paren > 0 ? message[..paren] : message;
    }
}
