using Microsoft.Playwright;

namespace SafeAI.Web.Tests;

/// <summary>Debian's Chromium, driven by Playwright, as the browser tests launch it (Playwright's own download does not work here).</summary>
internal static class HeadlessChromium
{
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>Gets where tests save screenshots (<c>SAFEAI_SCREENSHOT_DIR</c>, else beside the test assembly).</summary>
    public static string ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("SAFEAI_SCREENSHOT_DIR") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>Skips the calling test, saying how to install Chromium, when it is not installed.</summary>
    public static void SkipUnlessInstalled()
    {
        if (!File.Exists(ExecutablePath))
        {
            Assert.Skip("chromium not found at /usr/bin/chromium: apt-get install -y chromium");
        }
    }

    /// <summary>
    /// Launches headless Chromium with the arguments it needs as root in a container. Expectations wait up to 20 s instead
    /// of Playwright's 5: CI runs these tests beside other test assemblies on two cores.
    /// </summary>
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        Assertions.SetDefaultExpectTimeout(20_000);
        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }
}
