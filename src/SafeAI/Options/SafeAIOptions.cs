using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace SafeAI;

/// <summary>
/// Settings of a SafeAI pipeline, bound from the <c>SafeAI</c> configuration section when registered with
/// <c>services.AddSafeAI()</c>, and validated at start-up.
/// </summary>
/// <example>
/// <code>
/// "SafeAI": {
///   "OnRejected": "ReturnResponse",
///   "BlockedMessage": "Sorry, I can't help with that.",
///   "DefaultCheckTimeout": "00:00:00.250",
///   "ModelTimeout": "00:01:40"
/// }
/// </code>
/// </example>
public sealed class SafeAIOptions : IValidatableObject
{
    /// <summary>The configuration section SafeAI binds from.</summary>
    public const string SectionName = "SafeAI";

    /// <summary>Gets or sets how rejected calls reach the caller. Default: <see cref="RejectionBehavior.ReturnResponse"/>.</summary>
    [EnumDataType(typeof(RejectionBehavior), ErrorMessage = "SafeAI:OnRejected must be ReturnResponse or ThrowException.")]
    public RejectionBehavior OnRejected { get; set; } = RejectionBehavior.ReturnResponse;

    /// <summary>Gets or sets the text of the response to a blocked call.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:BlockedMessage must not be empty.")]
    public string BlockedMessage { get; set; } = "Sorry, I can't help with that request.";

    /// <summary>
    /// Gets or sets the text of the response to a rate-limited call. <c>{0}</c> is replaced by the number of seconds
    /// to wait (rounded up), when known.
    /// </summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:RateLimitedMessage must not be empty.")]
    public string RateLimitedMessage { get; set; } = "You're sending requests faster than I can answer. Please try again in {0} seconds.";

    /// <summary>Gets or sets the text of the response to a rate-limited call when the wait time is not known.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:RateLimitedNoRetryMessage must not be empty.")]
    public string RateLimitedNoRetryMessage { get; set; } = "You're sending requests faster than I can answer. Please try again later.";

    /// <summary>Gets or sets the text of the response when a fail-closed safety stage failed, so the request was not processed.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "SafeAI:GuardErrorMessage must not be empty.")]
    public string GuardErrorMessage { get; set; } = "Sorry, I couldn't safely process that request just now. Please try again in a moment.";

    /// <summary>
    /// Gets the texts of rejections by reason code, overriding <see cref="BlockedMessage"/> for that reason. A key may be
    /// a full reason code (<c>input.too_long</c>) or its prefix before the first dot (<c>content</c>). Keys are
    /// case-insensitive. Bound from <c>SafeAI:RejectionMessages</c>.
    /// </summary>
    public IDictionary<string, string> RejectionMessages { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [GuardReasons.InputTooLong] = "Your message is too long for me to process. Please shorten it and try again.",
        [GuardReasons.InputEmpty] = "Your message is empty. Please type a question and try again.",
        [GuardReasons.InputInvalid] = "Sorry, I couldn't read that request. Please try again.",
    };

    /// <summary>
    /// Gets or sets the time budget of input and output checks that declare none themselves. A check that runs
    /// longer is abandoned and its <see cref="GuardFailureMode"/> applies. <see langword="null"/> (default): no budget.
    /// </summary>
    public TimeSpan? DefaultCheckTimeout { get; set; }

    /// <summary>
    /// Gets or sets the longest the pipeline waits on the model: for its answer, and on a stream for each chunk (the first
    /// and every one after it). Past it the call is abandoned without the model's cooperation (a client that ignores its
    /// cancellation token cannot hang the caller): the stray call is detached, its outcome observed and logged, and the
    /// caller gets <see cref="SafeAIModelTimeoutException"/>, which a fallback stage turns into a fallback answer
    /// (before a stream's first chunk) or an interruption notice (after it). The fallback stage's
    /// <see cref="FallbackOptions.AttemptTimeout"/> and <see cref="FallbackOptions.TotalTimeout"/> and the caller's
    /// cancellation hold the same way. Default: 100 seconds (as <see cref="HttpClient.Timeout"/>); between 1 ms and one
    /// day: there is no "infinite", so no configuration waits forever.
    /// </summary>
    public TimeSpan ModelTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Gets or sets a value indicating whether input checks that sit in the same pipeline position run concurrently,
    /// the first rejection cancelling the rest. Off by default: concurrency helps slow, independent checks (remote
    /// moderation APIs, models) and costs a little for fast ones.
    /// </summary>
    public bool ConcurrentInputChecks { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether routine verdicts (<see cref="GuardVerdict.IsRoutine"/>: an
    /// <see cref="GuardAction.Allow"/> with reason <c>ok</c> or <c>*.ok</c>, where a stage found nothing to report) are
    /// kept in each call's <see cref="SafeAIResult"/>. Default: <see langword="false"/>: the result keeps every verdict
    /// that changed or reported something (Modify, Degrade, Escalate, Limit, Block, and Allow verdicts with another
    /// reason, such as a stage that failed open, a log-only content finding or a reviewer's approval), and a call every
    /// stage allowed routinely carries the shared <see cref="SafeAIResult.Empty"/> and allocates no result. Routine
    /// verdicts are still counted in telemetry, recorded as span events and visible to later stages during the call
    /// (<see cref="SafeAIContext.Verdicts"/>). Set it to <see langword="true"/> to see every stage's decision with its
    /// score on the result (for example the confidence score of an allowed answer), at about 64 B per verdict and 56 B
    /// per call.
    /// </summary>
    public bool RecordAllowVerdicts { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether the text of input messages may be logged at <c>Trace</c> level.
    /// Off by default: message text can hold personal data.
    /// </summary>
    public bool LogMessageContent { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether keys under the <c>SafeAI</c> configuration section that this version does
    /// not know are accepted (each is logged at Warning) instead of failing validation at start-up. Off by default, so
    /// that a typo (<c>SafeAI:RateLimting</c>) is caught; turn it on for forward compatibility, when one configuration
    /// serves apps on different SafeAI versions. A value of the wrong shape (<c>"SafeAI": "yes"</c>) always fails.
    /// </summary>
    public bool AllowUnknownConfigurationKeys { get; set; }

    /// <summary>
    /// Gets or sets a delegate that chooses the text of a rejection, for localisation or per-reason wording.
    /// Return <see langword="null"/> to use the configured message. Not bound from configuration.
    /// </summary>
    public Func<GuardVerdict, SafeAICallContext, string?>? RejectionMessageFactory { get; set; }

    /// <inheritdoc />
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (DefaultCheckTimeout is { } timeout && (timeout < TimeSpan.FromMilliseconds(1) || timeout > TimeSpan.FromDays(1)))
        {
            yield return new ValidationResult(
                $"SafeAI:DefaultCheckTimeout must be between 1 ms and 1 day (it is {timeout}).",
                [nameof(DefaultCheckTimeout)]);
        }

        if (ModelTimeout < TimeSpan.FromMilliseconds(1) || ModelTimeout > TimeSpan.FromDays(1))
        {
            yield return new ValidationResult(
                $"SafeAI:ModelTimeout must be between 1 ms and 1 day (it is {ModelTimeout}).",
                [nameof(ModelTimeout)]);
        }

        if (!string.IsNullOrEmpty(RateLimitedMessage))
        {
            string? error = null;
            try
            {
                _ = string.Format(CultureInfo.InvariantCulture, RateLimitedMessage, 1);
            }
            catch (FormatException ex)
            {
                error = ex.Message;
            }

            if (error is not null)
            {
                yield return new ValidationResult(
                    $"SafeAI:RateLimitedMessage is not a valid format string (use {{0}} for the seconds to wait): {error}",
                    [nameof(RateLimitedMessage)]);
            }
        }
    }
}
