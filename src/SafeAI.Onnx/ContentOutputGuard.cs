namespace SafeAI.Onnx;

/// <summary>
/// Screens the model's output. On streams the core <see cref="OutputGuard"/> holds text back in windows; each window is
/// scored together with the already-released context before it reaches the caller.
/// </summary>
internal sealed class ContentOutputGuard : OutputGuard
{
    private readonly ContentClassifier _classifier;

    public ContentOutputGuard(ContentClassifier classifier)
        : base(ContentFilterOptions.DefaultName + "-output", ContentInputGuard.WithName(classifier.Options, "-output"), classifier.Options.Screening)
    {
        _classifier = classifier;
    }

    protected override async ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(segment);
        if (segment.Text.Length == 0)
        {
            return Allow();
        }

        // The released context is scored with the window, so a phrase split across windows is still seen whole.
        var text = segment.PrecedingText.Length == 0 ? segment.Text : string.Concat(segment.PrecedingText, segment.Text);
        var assessment = await _classifier.AssessAsync([text], cancellationToken).ConfigureAwait(false);
        var previous = context.Items.TryGetValue(ContentFilterOptions.OutputScoresItemKey, out var existing) ? existing as Dictionary<string, double> : null;
        context.Items[ContentFilterOptions.OutputScoresItemKey] = _classifier.ToScoreMap(assessment, previous);
        var decision = _classifier.Decide(assessment);
        if (decision.Flagged && decision.Action == ContentAction.Redact)
        {
            // The window was flagged (with its context): if no sentence of it is flagged alone, it is replaced whole, so
            // that a word split across windows cannot pass.
            segment.Replacement = await _classifier.RedactAsync(segment.Text, flaggedAsWhole: true, cancellationToken).ConfigureAwait(false);
        }

        return ContentClassifier.ToVerdict(Name, decision);
    }
}
