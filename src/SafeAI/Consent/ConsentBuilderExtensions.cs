using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SafeAI.Audit;
using SafeAI.Consent;
using SafeAI.Feedback;

namespace SafeAI;

/// <summary>Adds consent to a SafeAI pipeline.</summary>
public static class ConsentBuilderExtensions
{
    /// <summary>
    /// Adds the consent stage (slot <see cref="GuardOrder.Consent"/>, outermost): each call's consents come from the
    /// person's stored choices unless the caller set them. Under dependency injection it binds <see cref="ConsentOptions"/>
    /// from <c>SafeAI:Consent</c>, registers an <see cref="IConsentStore"/> (in memory unless a store package registered
    /// another, such as <c>safe.UseSqliteConsentStore()</c>) and a <see cref="ConsentManager"/> that records changes in
    /// the registered <see cref="AuditTrail"/>, and wraps the feedback store registered so far in a
    /// <see cref="ConsentFeedbackStore"/>: call it after the feedback store registration.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="configure">Changes the options after configuration binding.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The builder has no services; in code pass a <see cref="ConsentManager"/>.</exception>
    public static SafeAIPipelineBuilder AddConsent(this SafeAIPipelineBuilder builder, Action<ConsentOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services ?? throw new InvalidOperationException(
            "AddConsent() without a manager needs dependency injection (services.AddSafeAI(...)). In code, create one and pass it: " +
            "safe.AddConsent(new ConsentManager(new InMemoryConsentStore(), auditTrail)).");
        var options = services.AddSafeAIOptions<ConsentOptions>(ConsentOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsentOptions>, ConsentOptionsValidator>());
        if (configure is not null)
        {
            _ = options.Configure(configure);
        }

        services.TryAddSingleton<IConsentStore, InMemoryConsentStore>();
        services.TryAddSingleton(static sp => new ConsentManager(
            sp.GetRequiredService<IConsentStore>(),
            sp.GetService<AuditTrail>(),
            sp.GetRequiredService<IOptions<ConsentOptions>>().Value,
            sp.GetService<TimeProvider>()));

        // Feedback comments are the text of feedback datasets: wrap the store registered so far.
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType != typeof(IFeedbackStore) || descriptor.IsKeyedService)
            {
                continue;
            }

            services[i] = ServiceDescriptor.Singleton<IFeedbackStore>(sp =>
            {
                var inner = descriptor.ImplementationInstance as IFeedbackStore
                    ?? (descriptor.ImplementationFactory is { } factory ? (IFeedbackStore)factory(sp) : (IFeedbackStore)ActivatorUtilities.CreateInstance(sp, descriptor.ImplementationType!));
                return inner as ConsentFeedbackStore ?? new ConsentFeedbackStore(inner, sp.GetRequiredService<ConsentManager>());
            });
            break;
        }

        return builder.Add(static sp => new ConsentGuard(sp.GetRequiredService<ConsentManager>(), sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Consent")));
    }

    /// <summary>Adds the consent stage over a given manager (slot <see cref="GuardOrder.Consent"/>); works with or without dependency injection.</summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="manager">The manager.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static SafeAIPipelineBuilder AddConsent(this SafeAIPipelineBuilder builder, ConsentManager manager)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(manager);
        return builder.Add(sp => new ConsentGuard(manager, sp.GetService<ILoggerFactory>()?.CreateLogger("SafeAI.Consent")));
    }
}

internal sealed class ConsentOptionsValidator : IValidateOptions<ConsentOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsentOptions options) =>
        options.GetError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}
