namespace SafeAI;

/// <summary>Settings every stage has: its name, failure mode and time budget. Stage option classes derive from this.</summary>
public class AIGuardOptions
{
    /// <summary>Gets or sets the stage name (used in verdicts and telemetry). <see langword="null"/> for the stage's default name.</summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets what happens when the stage fails. Default: <see cref="GuardFailureMode.FailClosed"/>.</summary>
    public GuardFailureMode FailureMode { get; set; } = GuardFailureMode.FailClosed;

    /// <summary>Gets or sets the stage's time budget; <see langword="null"/> for none.</summary>
    public TimeSpan? Timeout { get; set; }
}
