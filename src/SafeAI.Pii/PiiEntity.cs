namespace SafeAI.Pii;

/// <summary>One finding in a text: its kind and where it is. It never holds the value itself.</summary>
/// <param name="Type">The kind (a single flag of <see cref="PiiEntityTypes"/>).</param>
/// <param name="Start">The index of the first character in the text.</param>
/// <param name="Length">The number of characters.</param>
public readonly record struct PiiEntity(PiiEntityTypes Type, int Start, int Length)
{
    /// <summary>Gets the index just past the last character.</summary>
    public int End => Start + Length;

    /// <summary>Gets the stable reason code of the kind, for example <c>pii.email</c>.</summary>
    public string ReasonCode => PiiReasons.For(Type);

    /// <summary>Gets the short upper-case label used in placeholders and files, for example <c>EMAIL</c>.</summary>
    public string Label => PiiReasons.LabelFor(Type);
}
