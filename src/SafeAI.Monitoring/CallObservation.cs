using System.Runtime.InteropServices;

namespace SafeAI.Monitoring;

/// <summary>What the monitoring stage saw of one call: its outcome, whether a fallback answered, whether confidence was low, how long it took and its rollout arm. No message text.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct CallObservation
{
    /// <summary>Gets the call's outcome (the most severe verdict).</summary>
    public GuardAction Outcome { get; init; }

    /// <summary>Gets a value indicating whether the call ended in an exception.</summary>
    public bool Faulted { get; init; }

    /// <summary>Gets a value indicating whether a fallback answered.</summary>
    public bool Fallback { get; init; }

    /// <summary>Gets a value indicating whether the confidence estimate was below the threshold.</summary>
    public bool LowConfidence { get; init; }

    /// <summary>Gets how long the call took.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Gets the rollout arm (<c>ai</c>, <c>baseline</c>, or an arm name of your own); <see langword="null"/> when none.</summary>
    public string? Arm { get; init; }
}
