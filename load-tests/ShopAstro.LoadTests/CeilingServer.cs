using System.Text;
using Microsoft.AspNetCore.SignalR;

namespace ShopAstro.LoadTests;

/// <summary>
/// The HTTP ceiling: bare Kestrel (no auth, no grains, no storage) answering the decision route with a constant,
/// decision-shaped JSON body; and the feed ceiling: a POST that pushes a consentChanged message to every client of
/// a bare SignalR hub before it answers. Run as its own process, like the edge API.
/// </summary>
public static class CeilingServer
{
    private static readonly byte[] Decision = Encoding.UTF8.GetBytes(
        """{"storeId":"s1","subjectId":"u1","policyVersion":1,"decisions":[{"purpose":"analytics","allowed":true,"reason":"granted"},{"purpose":"cart","allowed":true,"reason":"contract"}]}""");

    private static readonly byte[] Written = Encoding.UTF8.GetBytes(
        """{"storeId":"s0","subjectId":"u1","status":"active","consents":{"analytics":{"granted":true,"policyVersion":1,"source":"banner"}}}""");

    public static async Task<int> RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddSignalR();
        var app = builder.Build();
        app.MapGet("/v1/stores/{storeId}/subjects/{subjectId}/decisions", (HttpContext context) =>
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            context.Response.ContentLength = Decision.Length;
            return context.Response.Body.WriteAsync(Decision).AsTask();
        });
        long sequence = 0;
        app.MapPut("/v1/stores/{storeId}/subjects/{subjectId}/consents", async (string storeId, string subjectId, HttpContext context, IHubContext<CeilingHub> hub) =>
        {
            var at = DateTimeOffset.UtcNow;
            await hub.Clients.All.SendAsync("consentChanged", new FeedMessage(storeId, Interlocked.Increment(ref sequence), at, subjectId, "analytics", true));
            context.Response.ContentType = "application/json; charset=utf-8";
            context.Response.ContentLength = Written.Length;
            await context.Response.Body.WriteAsync(Written);
        });
        app.MapGet("/health/ready", () => "ok");
        app.MapHub<CeilingHub>("/hubs/consent");
        await app.RunAsync();
        return 0;
    }

    public sealed record FeedMessage(string StoreId, long Sequence, DateTimeOffset At, string SubjectId, string Purpose, bool Granted);

    public sealed class CeilingHub : Hub
    {
        public object Subscribe(string storeId) => new { storeId, sequence = 0L };
    }
}
