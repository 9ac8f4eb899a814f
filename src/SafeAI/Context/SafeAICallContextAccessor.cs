namespace SafeAI;

/// <summary>
/// The ambient <see cref="SafeAICallContext"/> for the current asynchronous flow (for example one HTTP request).
/// Values set on <c>ChatOptions</c> win; values missing there are filled from the ambient context.
/// </summary>
/// <example>
/// <code>
/// using (SafeAICallContextAccessor.BeginScope(new SafeAICallContext { UserId = "u-42", RiskTier = RiskTier.High }))
/// {
///     var answer = await chatClient.GetResponseAsync("Am I eligible for the loan?");
/// }
/// </code>
/// </example>
public static class SafeAICallContextAccessor
{
    private static readonly AsyncLocal<SafeAICallContext?> CurrentContext = new();

    /// <summary>Gets or sets the ambient context of the current asynchronous flow.</summary>
    public static SafeAICallContext? Current
    {
        get => CurrentContext.Value;
        set => CurrentContext.Value = value;
    }

    /// <summary>Sets the ambient context until the returned scope is disposed, then restores the previous one.</summary>
    /// <param name="context">The context.</param>
    /// <returns>A scope that restores the previous context when disposed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="context"/> is <see langword="null"/>.</exception>
    public static IDisposable BeginScope(SafeAICallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var previous = CurrentContext.Value;
        CurrentContext.Value = context;
        return new Scope(previous);
    }

    private sealed class Scope(SafeAICallContext? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                CurrentContext.Value = previous;
            }
        }
    }
}
