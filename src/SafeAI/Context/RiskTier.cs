namespace SafeAI;

/// <summary>How much is at stake in a call. Stages such as human review act on <see cref="High"/>.</summary>
public enum RiskTier
{
    /// <summary>The caller did not say.</summary>
    Unspecified = 0,

    /// <summary>Low stakes: small talk, drafting, search.</summary>
    Low = 1,

    /// <summary>Ordinary stakes.</summary>
    Medium = 2,

    /// <summary>High stakes: decisions about loans, hiring, health, legal matters, or anything the application marks so.</summary>
    High = 3,
}
