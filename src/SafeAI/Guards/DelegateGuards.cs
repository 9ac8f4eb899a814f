namespace SafeAI;

/// <summary>An input check written as a delegate; see <see cref="SafeAIPipelineBuilder.AddInputCheck"/>.</summary>
internal sealed class DelegateInputGuard(
    string name,
    Func<SafeAIContext, CancellationToken, ValueTask<GuardVerdict>> check,
    GuardFailureMode failureMode,
    TimeSpan? timeout,
    int order) : InputGuard(name, failureMode, timeout)
{
    public override int Order { get; } = order;

    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken) => check(context, cancellationToken);
}

/// <summary>An output check written as a delegate; see <see cref="SafeAIPipelineBuilder.AddOutputCheck"/>.</summary>
internal sealed class DelegateOutputGuard(
    string name,
    Func<SafeAIContext, OutputSegment, CancellationToken, ValueTask<GuardVerdict>> check,
    GuardFailureMode failureMode,
    TimeSpan? timeout,
    OutputScreeningOptions? screening,
    int order) : OutputGuard(name, failureMode, timeout, screening)
{
    public override int Order { get; } = order;

    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken) =>
        check(context, segment, cancellationToken);
}
