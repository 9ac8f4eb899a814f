using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps SafeAI's health endpoint.</summary>
public static class SafeAIHealthEndpointRouteBuilderExtensions
{
    /// <summary>The tag SafeAI's health checks carry (SafeAI.Monitoring's <c>AddSafeAIChecks()</c> registers them with it).</summary>
    public const string HealthTag = "safeai";

    /// <summary>
    /// Maps <c>GET {pattern}</c>: the health checks tagged <c>safeai</c> (register them with
    /// <c>services.AddHealthChecks().AddSafeAIChecks()</c> from SafeAI.Monitoring), as JSON:
    /// <c>{"status": "Healthy"|"Degraded"|"Unhealthy", "checks": [{"name", "status", "description", "data"}]}</c>.
    /// Degraded (kill switch on, an alert firing, the metrics store unreachable) answers 200, so that a load balancer
    /// keeps the instance (it still answers, through its fallback); Unhealthy answers 503.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route. Default <c>/health/safeai</c>.</param>
    /// <returns>The endpoint's convention builder (chain <c>.RequireAuthorization(...)</c> to restrict it: the details name alert rules).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">Health checks are not registered (<c>services.AddHealthChecks()</c>).</exception>
    public static IEndpointConventionBuilder MapSafeAIHealth(this IEndpointRouteBuilder endpoints, string pattern = "/health/safeai")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        if (endpoints.ServiceProvider.GetService<HealthCheckService>() is null)
        {
            throw new InvalidOperationException("MapSafeAIHealth() needs health checks: services.AddHealthChecks().AddSafeAIChecks() (SafeAI.Monitoring).");
        }

        return endpoints.MapHealthChecks(pattern, new HealthCheckOptions
        {
            Predicate = static registration => registration.Tags.Contains(HealthTag),
            ResponseWriter = WriteAsync,
        });
    }

    private static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", report.Status.ToString());
            json.WriteStartArray("checks");
            foreach (var (name, entry) in report.Entries)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("status", entry.Status.ToString());
                json.WriteString("description", entry.Description);
                json.WriteStartObject("data");
                foreach (var (key, value) in entry.Data)
                {
                    json.WritePropertyName(key);
                    switch (value)
                    {
                        case bool b: json.WriteBooleanValue(b); break;
                        case int i: json.WriteNumberValue(i); break;
                        case long l: json.WriteNumberValue(l); break;
                        case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
                        case IEnumerable<string> list:
                            json.WriteStartArray();
                            foreach (var item in list)
                            {
                                json.WriteStringValue(item);
                            }

                            json.WriteEndArray();
                            break;
                        case null: json.WriteNullValue(); break;
                        default: json.WriteStringValue(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                    }
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }
}
