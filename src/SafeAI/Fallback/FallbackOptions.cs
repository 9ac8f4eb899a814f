using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace SafeAI;

/// <summary>What the fallback stage does when no link of the chain could answer.</summary>
public enum FallbackExhaustedBehavior
{
    /// <summary>Answer with <see cref="FallbackOptions.UnavailableMessage"/> (a well-formed degraded answer).</summary>
    ReturnUnavailableMessage = 0,

    /// <summary>Throw <see cref="SafeAIFallbackExhaustedException"/>, with the model's failure as inner exception.</summary>
    ThrowException = 1,
}

/// <summary>Settings of the fallback circuit breaker (Polly). When the failure ratio of model calls in the sampling window exceeds the limit, the model is not called for the break duration: the fallback answers at once.</summary>
public sealed class FallbackCircuitBreakerOptions
{
    /// <summary>Gets or sets the failure ratio that opens the circuit. Default: 0.5.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Gets or sets the least number of calls in the window before the circuit may open. Default: 10.</summary>
    public int MinimumThroughput { get; set; } = 10;

    /// <summary>Gets or sets the sampling window. Default: 30 seconds.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long the circuit stays open. Default: 30 seconds.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Settings of the fallback stage, bound from <c>SafeAI:Fallback</c> and reloaded when the configuration changes (the
/// kill switch flips at runtime). The chain of fallbacks and delegates are set in code.
/// </summary>
/// <remarks>
/// Retries are not this stage's job: each link, the model included, is called once per call. Retry transient HTTP
/// failures in the provider's <c>HttpClient</c> (<c>SafeAI.Http</c>'s <c>AddModelApiResilienceHandler</c>), so that a
/// failure reaches this stage only after the HTTP layer gave up.
/// </remarks>
/// <example>
/// <code>
/// "SafeAI": { "Fallback": { "KillSwitch": false, "AttemptTimeout": "00:00:20", "TotalTimeout": "00:00:45",
///   "CircuitBreaker": { "FailureRatio": 0.5, "MinimumThroughput": 10, "BreakDuration": "00:00:30" } } }
/// </code>
/// </example>
public sealed class FallbackOptions : AIGuardOptions, IValidatableObject
{
    /// <summary>The configuration section the stage binds from.</summary>
    public const string SectionName = "SafeAI:Fallback";

    /// <summary>
    /// Gets or sets a value indicating whether all traffic goes to the fallback chain without calling the model
    /// (incident containment). Verdict: <see cref="GuardAction.Degrade"/> with reason <c>fallback.kill_switch</c>.
    /// Flip it in configuration: it takes effect on the next call.
    /// </summary>
    public bool KillSwitch { get; set; }

    /// <summary>Gets or sets which failures make the fallback answer. Default: <see cref="FallbackTriggers.All"/>.</summary>
    public FallbackTriggers Triggers { get; set; } = FallbackTriggers.All;

    /// <summary>Gets the exception types that trigger <see cref="FallbackTriggers.Exception"/> (a type matches its subclasses). Empty (default): any exception. Not bound from configuration.</summary>
    public IList<Type> ExceptionTypes { get; } = [];

    /// <summary>Gets or sets the time budget of each attempt: the model call, and each link of the chain that calls something. <see langword="null"/> (default): none. For streams, the time to the first chunk.</summary>
    public TimeSpan? AttemptTimeout { get; set; }

    /// <summary>Gets or sets the time budget of the whole stage (the model call and the chain). When it runs out, only immediate links (static texts) still answer. <see langword="null"/> (default): none.</summary>
    public TimeSpan? TotalTimeout { get; set; }

    /// <summary>Gets or sets the circuit breaker settings; <see langword="null"/> (default): no circuit breaker. Read once when the pipeline is built.</summary>
    public FallbackCircuitBreakerOptions? CircuitBreaker { get; set; }

    /// <summary>Gets or sets what happens when no link answers. Default: <see cref="FallbackExhaustedBehavior.ReturnUnavailableMessage"/>.</summary>
    public FallbackExhaustedBehavior WhenExhausted { get; set; }

    /// <summary>Gets or sets the answer when no link could answer.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:Fallback:UnavailableMessage must not be empty.")]
    public string UnavailableMessage { get; set; } = "Sorry, our assistant is unavailable right now. Please try again in a few minutes.";

    /// <summary>Gets or sets the notice that ends a stream that failed after its first chunk reached the caller.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:Fallback:StreamInterruptedMessage must not be empty.")]
    public string StreamInterruptedMessage { get; set; } = "[The answer was interrupted by a technical problem and is incomplete. Please try again.]";

    /// <summary>Gets the chain of fallbacks, tried in order until one answers. Not bound from configuration.</summary>
    public IList<ChatFallback> Fallbacks { get; } = [];

    /// <summary>Gets or sets how to read an HTTP status code from a provider's exception; by default <see cref="HttpRequestException.StatusCode"/> and a numeric <c>Status</c> property (<c>System.ClientModel.ClientResultException</c>). Not bound from configuration.</summary>
    public Func<Exception, int?>? StatusCodeResolver { get; set; }

    /// <inheritdoc />
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (AttemptTimeout is { } attempt && attempt <= TimeSpan.Zero)
        {
            yield return new ValidationResult("SafeAI:Fallback:AttemptTimeout must be positive.", [nameof(AttemptTimeout)]);
        }

        if (TotalTimeout is { } total && total <= TimeSpan.Zero)
        {
            yield return new ValidationResult("SafeAI:Fallback:TotalTimeout must be positive.", [nameof(TotalTimeout)]);
        }

        if (!Enum.IsDefined(WhenExhausted))
        {
            yield return new ValidationResult("SafeAI:Fallback:WhenExhausted must be ReturnUnavailableMessage or ThrowException.", [nameof(WhenExhausted)]);
        }

        if (CircuitBreaker is { } breaker)
        {
            if (!(breaker.FailureRatio is > 0 and <= 1))
            {
                yield return new ValidationResult("SafeAI:Fallback:CircuitBreaker:FailureRatio must be greater than 0 and at most 1.", [nameof(CircuitBreaker)]);
            }

            if (breaker.MinimumThroughput < 2)
            {
                yield return new ValidationResult("SafeAI:Fallback:CircuitBreaker:MinimumThroughput must be at least 2.", [nameof(CircuitBreaker)]);
            }

            if (breaker.SamplingDuration < TimeSpan.FromMilliseconds(500) || breaker.BreakDuration < TimeSpan.FromMilliseconds(500))
            {
                yield return new ValidationResult("SafeAI:Fallback:CircuitBreaker:SamplingDuration and BreakDuration must be at least 0.5 s.", [nameof(CircuitBreaker)]);
            }
        }
    }

    /// <summary>Adds a link to the chain.</summary>
    /// <param name="fallback">The link.</param>
    /// <returns>These options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="fallback"/> is <see langword="null"/>.</exception>
    public FallbackOptions Add(ChatFallback fallback)
    {
        ArgumentNullException.ThrowIfNull(fallback);
        Fallbacks.Add(fallback);
        return this;
    }
}

/// <summary>Validates <see cref="FallbackOptions"/> at start-up.</summary>
internal sealed partial class FallbackOptionsValidator : IValidateOptions<FallbackOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, FallbackOptions options) =>
        ValidationMessages.WithoutRepeatedNames(new Generated().Validate(name, options));

    /// <summary>The validator generated from the data annotations (and <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/>).</summary>
    [OptionsValidator]
    private sealed partial class Generated : IValidateOptions<FallbackOptions>
    {
    }
}
