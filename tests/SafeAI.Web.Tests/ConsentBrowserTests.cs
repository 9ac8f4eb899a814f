using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SafeAI.Consent;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>The web sample's consent page in headless Chromium: a visitor follows the link from the chat, says no to one purpose, and the choice persists.</summary>
public sealed class ConsentBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    private const string HumanReviewTitle = "Let a person read my conversation when an answer is checked";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("SAFEAI_SCREENSHOT_DIR") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");

    [Fact]
    public async Task ConsentPage_VisitorDeclinesHumanReview_ChoiceIsSavedAndShownAfterReload()
    {
        if (!File.Exists(Chromium))
        {
            Assert.Skip("chromium not found at /usr/bin/chromium: apt-get install -y chromium");
        }

        await using var host = await SampleHost.StartAsync(Ct);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 900, Height = 900 } });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();

        // From the chat page, the link in the header.
        await page.GotoAsync(host.Address.ToString().TrimEnd('/') + "/");
        await page.GetByRole(AriaRole.Link, new() { Name = "Your privacy choices" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Your privacy choices" })).ToBeVisibleAsync();
        var review = page.GetByRole(AriaRole.Group, new() { Name = HumanReviewTitle });
        await Assertions.Expect(review.GetByLabel("Yes")).ToBeCheckedAsync();
        await Assertions.Expect(review.Locator(".state")).ToHaveTextAsync("You have not decided: this is on until you say no.");
        await Assertions.Expect(page.GetByRole(AriaRole.Group, new() { Name = "Keep the words of my messages in the audit record" }).GetByLabel("No")).ToBeCheckedAsync();

        await review.GetByLabel("No").CheckAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Saved: " + HumanReviewTitle.ToLowerInvariant() + " \u2014 no.");
        await Assertions.Expect(review.Locator(".state")).ToContainTextAsync("You said no");

        // Persisted: in the store, for this browser's visitor id, and on the page after a reload.
        var visitor = (await context.CookiesAsync()).Single(static c => c.Name == SampleApp.VisitorCookie).Value;
        var stored = await host.App.Services.GetRequiredService<IConsentStore>().GetAsync(visitor, Ct);
        var choice = Assert.Single(stored);
        Assert.Equal(ConsentPurposes.HumanReview, choice.Purpose);
        Assert.False(choice.Granted);

        await page.ReloadAsync();
        review = page.GetByRole(AriaRole.Group, new() { Name = HumanReviewTitle });
        await Assertions.Expect(review.GetByLabel("No")).ToBeCheckedAsync();
        await Assertions.Expect(review.Locator(".state")).ToContainTextAsync("You said no");
        Directory.CreateDirectory(ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, "consent-page.png"), FullPage = true });

        // The back link returns to the chat.
        await page.GetByRole(AriaRole.Link, new() { Name = "Back" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Your question")).ToBeVisibleAsync();
    }
}
