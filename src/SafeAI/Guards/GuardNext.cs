using System.Runtime.InteropServices;
using Microsoft.Extensions.AI;

namespace SafeAI;

/// <summary>
/// Runs the rest of a pipeline after the current stage, ending with the model call. A small value passed to
/// <see cref="IAIGuard.InvokeAsync"/>; calling it allocates nothing.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct GuardNext : IEquatable<GuardNext>
{
    private readonly SafeAIPipeline _pipeline;
    private readonly int _index;

    internal GuardNext(SafeAIPipeline pipeline, int index)
    {
        _pipeline = pipeline;
        _index = index;
    }

    /// <summary>Runs the rest of the pipeline and the model for a non-streaming call.</summary>
    /// <param name="context">The call's context.</param>
    /// <returns>The response from further in.</returns>
    /// <exception cref="InvalidOperationException">This value was not created by a pipeline.</exception>
    public ValueTask<ChatResponse> GetResponseAsync(SafeAIContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Pipeline.InvokeAsync(_index, context);
    }

    /// <summary>Runs the rest of the pipeline and starts the model's stream for a streaming call.</summary>
    /// <param name="context">The call's context.</param>
    /// <returns>The stream from further in.</returns>
    /// <exception cref="InvalidOperationException">This value was not created by a pipeline.</exception>
    public ValueTask<IAsyncEnumerable<ChatResponseUpdate>> GetStreamingResponseAsync(SafeAIContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Pipeline.InvokeStreamingAsync(_index, context);
    }

    private SafeAIPipeline Pipeline => _pipeline ?? throw new InvalidOperationException("This GuardNext was not created by a SafeAI pipeline.");

    /// <inheritdoc />
    public bool Equals(GuardNext other) => ReferenceEquals(_pipeline, other._pipeline) && _index == other._index;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GuardNext other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_pipeline, _index);

    /// <summary>Compares two values.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns><see langword="true"/> when equal.</returns>
    public static bool operator ==(GuardNext left, GuardNext right) => left.Equals(right);

    /// <summary>Compares two values.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns><see langword="true"/> when not equal.</returns>
    public static bool operator !=(GuardNext left, GuardNext right) => !left.Equals(right);
}
