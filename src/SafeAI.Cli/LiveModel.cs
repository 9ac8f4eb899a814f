using System.ClientModel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using OpenAI;

namespace SafeAI.Cli;

/// <summary>
/// The live model of <c>safeai evaluate --answers live</c>: an OpenAI-compatible chat endpoint named in the configuration
/// file's <c>SafeAIEvaluation</c> section (<c>Endpoint</c>, <c>Model</c>, <c>ApiKeyVariable</c>); the key comes from that
/// environment variable, never from the file.
/// </summary>
internal static class LiveModel
{
    /// <summary>The configuration section of the evaluation's own settings (outside <c>SafeAI</c>, so the app ignores it).</summary>
    public const string SectionName = "SafeAIEvaluation";

    /// <summary>Creates the client.</summary>
    /// <param name="configPath">The configuration file.</param>
    /// <returns>A chat client for the endpoint.</returns>
    /// <exception cref="FormatException">The section, its endpoint or model is missing or invalid, or the key's variable is not set (the message names the file and key).</exception>
    public static IChatClient Create(string configPath)
    {
        if (!File.Exists(configPath))
        {
            throw new FileNotFoundException($"The configuration file '{configPath}' does not exist.", configPath);
        }

        IConfigurationSection section;
        try
        {
            section = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false).Build().GetSection(SectionName);
        }
        catch (InvalidDataException ex)
        {
            throw new FormatException($"{configPath}: not valid JSON configuration ({ex.Message}).", ex);
        }

        var endpoint = section["Endpoint"];
        var model = section["Model"];
        if (string.IsNullOrWhiteSpace(endpoint) || string.IsNullOrWhiteSpace(model))
        {
            throw new FormatException($"{configPath}: --answers live needs \"{SectionName}\": {{\"Endpoint\": \"https://.../v1\", \"Model\": \"...\", \"ApiKeyVariable\": \"OPENAI_API_KEY\"}} (Endpoint and Model are required).");
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new FormatException($"{configPath}: {SectionName}:Endpoint must be an http or https address (it is '{endpoint}').");
        }

        var key = "unused";
        if (section["ApiKeyVariable"] is { Length: > 0 } variable)
        {
            key = Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
                ? value
                : throw new FormatException($"{configPath}: {SectionName}:ApiKeyVariable names the environment variable '{variable}', which is not set.");
        }

        return new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = uri }).AsIChatClient();
    }
}
