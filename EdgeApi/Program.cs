using ShopAstro.EdgeApi;

var builder = WebApplication.CreateBuilder(args);
builder.AddEdgeApi();

var app = builder.Build();
app.MapEdgeApi();
app.Run();

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
