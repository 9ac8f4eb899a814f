using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SafeAI.Consent;
using SafeAI.Samples.Web;

namespace SafeAI.Web.Tests;

/// <summary>The web sample's consent page in headless Chromium: a visitor follows the link from the chat, says no to one purpose, and the choice persists.</summary>
public sealed class ConsentBrowserTests
{

    private const string HumanReviewTitle = "Let a person read my conversation when an answer is checked";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConsentPage_VisitorDeclinesHumanReview_ChoiceIsSavedAndShownAfterReload()
    {
        HeadlessChromium.SkipUnlessInstalled();

        await using var host = await SampleHost.StartAsync(Ct);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
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
        Directory.CreateDirectory(HeadlessChromium.ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(HeadlessChromium.ScreenshotDirectory, "consent-page.png"), FullPage = true });

        // The back link returns to the chat.
        await page.GetByRole(AriaRole.Link, new() { Name = "Back" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Your question")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task HumanReviewDeclined_ReviewerSeesNoTextCannotApprove_WritesTheAnswerTheVisitorGets()
    {
        HeadlessChromium.SkipUnlessInstalled();

        await using var host = await SampleHost.StartAsync(Ct);
        var baseUrl = host.Address.ToString().TrimEnd('/');
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        await using var visitorContext = await browser.NewContextAsync();
        await using var reviewerContext = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 900 } });
        visitorContext.SetDefaultTimeout(30_000);
        reviewerContext.SetDefaultTimeout(30_000);

        // The visitor says no to human review, then asks a high-stakes question.
        var chat = await visitorContext.NewPageAsync();
        await chat.GotoAsync(baseUrl + "/consent/");
        await chat.GetByRole(AriaRole.Group, new() { Name = HumanReviewTitle }).GetByLabel("No").CheckAsync();
        await Assertions.Expect(chat.GetByRole(AriaRole.Status)).ToContainTextAsync("Saved");
        await chat.GotoAsync(baseUrl + "/");
        await chat.GetByLabel("Your question").FillAsync("Am I eligible for a loan? I earn 41,500 a year.");
        await chat.GetByRole(AriaRole.Button, new() { Name = "Send", Exact = true }).ClickAsync();
        await Assertions.Expect(chat.Locator("li.msg.assistant[data-kind=pending]")).ToContainTextAsync("Pending human review");

        // The reviewer sees why it was held, but neither the question nor the proposed answer, and cannot approve.
        var review = await reviewerContext.NewPageAsync();
        await review.GotoAsync(baseUrl + "/reviews/");
        await review.GetByLabel("User name").FillAsync(SampleApp.DemoReviewerUser);
        await review.GetByLabel("Password").FillAsync(SampleApp.DemoReviewerPassword);
        await review.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        var item = review.Locator("li.item", new() { HasText = "declined human review" });
        await Assertions.Expect(item).ToContainTextAsync("Trigger: trigger.risk_tier");
        await Assertions.Expect(item).Not.ToContainTextAsync("41,500");
        await Assertions.Expect(item).Not.ToContainTextAsync("15,000 EUR");
        await Assertions.Expect(item.GetByRole(AriaRole.Button, new() { Name = "Approve answer" })).ToBeDisabledAsync();

        // The reviewer writes the answer; the visitor gets it, marked as reviewed by a person.
        await item.GetByRole(AriaRole.Button, new() { Name = "Edit answer…" }).ClickAsync();
        await item.GetByLabel("Edited answer (the user gets this text instead)").FillAsync("A loan adviser will call you to go through your eligibility.");
        await item.GetByRole(AriaRole.Button, new() { Name = "Save edited answer" }).ClickAsync();
        await Assertions.Expect(review.Locator("#status")).ToContainTextAsync("Edited.");
        var reviewed = chat.Locator("li.msg.assistant[data-kind=reviewed]");
        await Assertions.Expect(reviewed).ToContainTextAsync("A loan adviser will call you to go through your eligibility.");
        await Assertions.Expect(reviewed).ToContainTextAsync("Reviewed by a person (" + SampleApp.DemoReviewerId + ")");
    }
}
