using Microsoft.Extensions.DependencyInjection;
using SafeAI.Feedback;

namespace SafeAI.Monitoring;

/// <summary>A feedback store that also counts each thumbs-up and thumbs-down in the <see cref="MetricsRecorder"/> (for <c>feedback.down.rate</c> rules), then stores it in the inner store.</summary>
/// <param name="inner">The store that keeps the feedback.</param>
/// <param name="recorder">The recorder.</param>
public sealed class MonitoredFeedbackStore(IFeedbackStore inner, MetricsRecorder recorder) : IFeedbackStore
{
    private readonly IFeedbackStore _inner = inner ?? throw new ArgumentNullException(nameof(inner));
    private readonly MetricsRecorder _recorder = recorder ?? throw new ArgumentNullException(nameof(recorder));

    /// <inheritdoc />
    public async ValueTask AddAsync(FeedbackEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await _inner.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        _recorder.RecordFeedback(entry.Rating);
    }

    /// <inheritdoc />
    public ValueTask<FeedbackEntry?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);

    /// <inheritdoc />
    public ValueTask<FeedbackPage> ListAsync(FeedbackQuery query, CancellationToken cancellationToken = default) => _inner.ListAsync(query, cancellationToken);
}

/// <summary>Counts feedback in monitoring.</summary>
public static class MonitoredFeedbackServiceCollectionExtensions
{
    /// <summary>
    /// Wraps the registered <see cref="IFeedbackStore"/> in a <see cref="MonitoredFeedbackStore"/>, so feedback given
    /// through the feedback endpoint feeds the <c>feedback.up</c> and <c>feedback.down</c> metrics. Call it after the
    /// store is registered (for example after <c>services.AddSafeAI(safe =&gt; safe.AddFeedback().UseSqliteFeedbackStore())</c>).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    /// <exception cref="InvalidOperationException">No feedback store is registered yet.</exception>
    public static IServiceCollection AddSafeAIFeedbackMonitoring(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var index = -1;
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IFeedbackStore) && !services[i].IsKeyedService)
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            throw new InvalidOperationException("AddSafeAIFeedbackMonitoring() found no feedback store; register one first (safe.AddFeedback() or safe.UseSqliteFeedbackStore()).");
        }

        var original = services[index];
        services[index] = ServiceDescriptor.Describe(typeof(IFeedbackStore), sp =>
        {
            var inner = original.ImplementationInstance as IFeedbackStore
                ?? (original.ImplementationFactory is { } factory ? (IFeedbackStore)factory(sp) : (IFeedbackStore)ActivatorUtilities.CreateInstance(sp, original.ImplementationType!));
            return new MonitoredFeedbackStore(inner, sp.GetRequiredService<MetricsRecorder>());
        }, original.Lifetime);
        return services;
    }
}
