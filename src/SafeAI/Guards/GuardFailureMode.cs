namespace SafeAI;

/// <summary>What happens when a guard stage itself fails (throws) or runs past its time budget.</summary>
public enum GuardFailureMode
{
    /// <summary>
    /// The call is rejected with a <see cref="GuardAction.Block"/> verdict and reason <see cref="GuardReasons.GuardError"/>
    /// or <see cref="GuardReasons.GuardTimeout"/>. The default for safety stages: an unchecked answer never gets through.
    /// </summary>
    FailClosed = 0,

    /// <summary>
    /// The call continues as if the stage allowed it. The stage's failure is still recorded as an
    /// <see cref="GuardAction.Allow"/> verdict with reason <see cref="GuardReasons.GuardError"/> or
    /// <see cref="GuardReasons.GuardTimeout"/>, counted in telemetry and logged as a warning; it is never silent.
    /// </summary>
    FailOpen = 1,
}
