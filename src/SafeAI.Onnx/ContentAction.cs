namespace SafeAI.Onnx;

/// <summary>What the content filter does when a category's score reaches its threshold.</summary>
public enum ContentAction
{
    /// <summary>Refuse: the call (or the rest of the stream) is replaced by a refusal; verdict <see cref="GuardAction.Block"/>.</summary>
    Block = 0,

    /// <summary>Replace the flagged sentences with <see cref="ContentFilterOptions.RedactionText"/> and go on; verdict <see cref="GuardAction.Modify"/>.</summary>
    Redact,

    /// <summary>Let the text through and ask for human review; verdict <see cref="GuardAction.Escalate"/>.</summary>
    Escalate,

    /// <summary>Let the text through and record the score; verdict <see cref="GuardAction.Allow"/> with the category's reason code.</summary>
    LogOnly,
}
