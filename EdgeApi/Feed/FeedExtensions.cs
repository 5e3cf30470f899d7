using Microsoft.AspNetCore.Http.Connections;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Silo;
using StackExchange.Redis;

namespace ShopAstro.EdgeApi.Feed;

public static class FeedExtensions
{
    /// <summary>Hub messages from clients are tiny (Subscribe); anything larger is refused.</summary>
    public const long MaxClientMessageBytes = 32 * 1024;

    public static WebApplicationBuilder AddLiveFeed(this WebApplicationBuilder builder)
    {
        var signalR = builder.Services.AddSignalR(options => options.MaximumReceiveMessageSize = MaxClientMessageBytes)
            .AddJsonProtocol(json => json.PayloadSerializerOptions.TypeInfoResolverChain.Insert(0, EdgeJsonContext.Default));
        if (ClusterSettings.RedisConnectionString(builder.Configuration) is { } redis)
        {
            // Any edge instance serves any dashboard: SignalR's own cross-instance traffic goes through Redis.
            signalR.AddStackExchangeRedis(redis, options => options.Configuration.ChannelPrefix = RedisChannel.Literal("shopastro-feed"));
        }

        builder.Services.AddSingleton<FeedRelay>();
        builder.Services.AddHostedService(services => services.GetRequiredService<FeedRelay>());
        return builder;
    }

    public static WebApplication MapLiveFeed(this WebApplication app)
    {
        app.MapHub<ConsentHub>(ConsentHub.Path, options => options.Transports = HttpTransportType.WebSockets | HttpTransportType.ServerSentEvents | HttpTransportType.LongPolling);
        return app;
    }
}
