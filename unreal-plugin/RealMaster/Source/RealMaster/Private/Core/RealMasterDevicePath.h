// Engine-independent parts of the Vulkan device path (realmaster::VulkanSession on Unreal's own
// VkDevice, graphics queue and images; cpp-bridge/README.md "The device path on a Vulkan host"):
// - which frame path a session uses (device or the readback fallback), and remembering a failure;
// - the Vulkan objects and images as the bridge takes them (handles, VkFormat -> ImageFormat);
// - registering each image once and again only when it changes (a resize), releasing them all;
// - the frame's conventions (those of RealMasterGBufferPack.usf's texture outputs);
// - the device extensions requested from Unreal before it creates its VkDevice.
// Compiled by the plugin and, outside Unreal, by unreal-plugin/tests (no engine or Vulkan headers).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "realmaster/realmaster.hpp"

namespace RealMasterCore
{

using realmaster::ffi::ImageFormat;

/// VkFormat values (numbers from the Vulkan registry, so this header needs no Vulkan headers; the
/// engine code reads the image's view format from the RHI and passes the number).
namespace VkFormatValue
{
constexpr std::uint32_t R8G8B8A8_UNORM = 37;
constexpr std::uint32_t R8G8B8A8_SRGB = 43;
constexpr std::uint32_t B8G8R8A8_UNORM = 44;
constexpr std::uint32_t B8G8R8A8_SRGB = 50;
constexpr std::uint32_t A2B10G10R10_UNORM_PACK32 = 64;
constexpr std::uint32_t R16G16_SFLOAT = 83;
constexpr std::uint32_t R16G16B16A16_SFLOAT = 97;
constexpr std::uint32_t R32_SFLOAT = 100;
constexpr std::uint32_t R32G32_SFLOAT = 103;
constexpr std::uint32_t R32G32B32A32_SFLOAT = 109;
constexpr std::uint32_t D32_SFLOAT = 126;
} // namespace VkFormatValue

/// VK_MAKE_API_VERSION(0, major, minor, 0).
constexpr std::uint32_t VulkanApiVersion(std::uint32_t major, std::uint32_t minor)
{
	return (major << 22) | (minor << 12);
}

/// The bridge's name for a VkFormat; false for formats the runtime does not take.
inline bool ImageFormatFromVkFormat(std::uint32_t vkFormat, ImageFormat& out)
{
	switch (vkFormat)
	{
		case VkFormatValue::R8G8B8A8_UNORM:
			out = ImageFormat::Rgba8Unorm;
			return true;
		case VkFormatValue::R8G8B8A8_SRGB:
			out = ImageFormat::Rgba8UnormSrgb;
			return true;
		case VkFormatValue::B8G8R8A8_UNORM:
			out = ImageFormat::Bgra8Unorm;
			return true;
		case VkFormatValue::B8G8R8A8_SRGB:
			out = ImageFormat::Bgra8UnormSrgb;
			return true;
		case VkFormatValue::A2B10G10R10_UNORM_PACK32:
			out = ImageFormat::Rgb10a2Unorm;
			return true;
		case VkFormatValue::R16G16_SFLOAT:
			out = ImageFormat::Rg16Float;
			return true;
		case VkFormatValue::R16G16B16A16_SFLOAT:
			out = ImageFormat::Rgba16Float;
			return true;
		case VkFormatValue::R32_SFLOAT:
			out = ImageFormat::R32Float;
			return true;
		case VkFormatValue::R32G32_SFLOAT:
			out = ImageFormat::Rg32Float;
			return true;
		case VkFormatValue::R32G32B32A32_SFLOAT:
			out = ImageFormat::Rgba32Float;
			return true;
		case VkFormatValue::D32_SFLOAT:
			out = ImageFormat::Depth32Float;
			return true;
		default:
			return false;
	}
}

/// The images of one frame. Colour and output are required; depth, normals and motion are optional.
enum class DeviceImageSlot : std::size_t
{
	Color,
	Depth,
	Normals,
	Motion,
	Output,
	Count
};
constexpr std::size_t kDeviceImageSlots = static_cast<std::size_t>(DeviceImageSlot::Count);

inline const char* DeviceImageSlotName(DeviceImageSlot slot)
{
	switch (slot)
	{
		case DeviceImageSlot::Color:
			return "colour";
		case DeviceImageSlot::Depth:
			return "depth";
		case DeviceImageSlot::Normals:
			return "normals";
		case DeviceImageSlot::Motion:
			return "motion";
		case DeviceImageSlot::Output:
			return "output";
		case DeviceImageSlot::Count:
			break;
	}
	return "unknown";
}

/// The runtime writes the output (STORAGE, kept in GENERAL) and samples the others (SAMPLED, kept in
/// SHADER_READ_ONLY_OPTIMAL).
constexpr bool IsOutputSlot(DeviceImageSlot slot)
{
	return slot == DeviceImageSlot::Output;
}

constexpr bool IsRequiredSlot(DeviceImageSlot slot)
{
	return slot == DeviceImageSlot::Color || slot == DeviceImageSlot::Output;
}

/// Formats the runtime accepts per image (rust/realmaster/src/gpu/host/mod.rs: COLOR_FORMATS,
/// DEPTH_FORMATS, NORMAL_FORMATS, MOTION_FORMATS, OUTPUT_FORMATS).
inline bool FormatFitsSlot(DeviceImageSlot slot, ImageFormat f)
{
	switch (slot)
	{
		case DeviceImageSlot::Color:
			return f == ImageFormat::Rgba8Unorm || f == ImageFormat::Rgba8UnormSrgb || f == ImageFormat::Bgra8Unorm ||
			       f == ImageFormat::Bgra8UnormSrgb || f == ImageFormat::Rgba16Float || f == ImageFormat::Rgba32Float;
		case DeviceImageSlot::Depth:
			return f == ImageFormat::R32Float || f == ImageFormat::Depth32Float;
		case DeviceImageSlot::Normals:
			return f == ImageFormat::Rgba8Unorm || f == ImageFormat::Rgb10a2Unorm || f == ImageFormat::Rgba16Float ||
			       f == ImageFormat::Rgba32Float;
		case DeviceImageSlot::Motion:
			return f == ImageFormat::Rg16Float || f == ImageFormat::Rg32Float || f == ImageFormat::Rgba16Float ||
			       f == ImageFormat::Rgba32Float;
		case DeviceImageSlot::Output:
			return f == ImageFormat::Rgba8Unorm || f == ImageFormat::Rgba16Float || f == ImageFormat::Rgba32Float;
		case DeviceImageSlot::Count:
			break;
	}
	return false;
}

/// One of the engine's images as the render thread describes it (image 0 = this plane is absent).
struct DeviceImageDesc
{
	std::uint64_t image = 0; // VkImage
	std::uint32_t width = 0;
	std::uint32_t height = 0;
	std::uint32_t vkFormat = 0; // the image's (view) VkFormat
	bool transferSrc = false;
	bool transferDst = false;

	bool Present() const { return image != 0; }
	bool operator==(const DeviceImageDesc& o) const
	{
		return image == o.image && width == o.width && height == o.height && vkFormat == o.vkFormat &&
		       transferSrc == o.transferSrc && transferDst == o.transferDst;
	}
	bool operator!=(const DeviceImageDesc& o) const { return !(*this == o); }
};

using DeviceFrameImages = std::array<DeviceImageDesc, kDeviceImageSlots>;

inline realmaster::Status DeviceConfigError(std::string message)
{
	realmaster::Status s;
	s.code = static_cast<std::uint32_t>(realmaster::StatusCode::Config);
	s.message = std::move(message);
	return s;
}

/// Whether the runtime can take these images as one frame: colour and output present, every present
/// image of a supported format and of the colour image's size. Checked on the render thread before a
/// frame is scheduled, so a mismatch sends the plugin to the readback path instead of a broken frame.
inline realmaster::Status CheckDeviceImages(const DeviceFrameImages& images)
{
	const DeviceImageDesc& color = images[static_cast<std::size_t>(DeviceImageSlot::Color)];
	for (std::size_t i = 0; i < kDeviceImageSlots; ++i)
	{
		const auto slot = static_cast<DeviceImageSlot>(i);
		const DeviceImageDesc& d = images[i];
		const std::string name = DeviceImageSlotName(slot);
		if (!d.Present())
		{
			if (IsRequiredSlot(slot))
			{
				return DeviceConfigError("device path: no " + name + " image (fix: report this with the RHI in use)");
			}
			continue;
		}
		ImageFormat f = ImageFormat::Rgba8Unorm;
		if (!ImageFormatFromVkFormat(d.vkFormat, f) || !FormatFitsSlot(slot, f))
		{
			return DeviceConfigError("device path: the " + name + " image's VkFormat " + std::to_string(d.vkFormat) +
			                         " is not one the runtime takes there (fix: report this with the engine version)");
		}
		if (d.width == 0 || d.height == 0 || d.width != color.width || d.height != color.height)
		{
			return DeviceConfigError("device path: the " + name + " image is " + std::to_string(d.width) + "x" +
			                         std::to_string(d.height) + ", the colour image " + std::to_string(color.width) +
			                         "x" + std::to_string(color.height) +
			                         " (fix: report this; every image must have the view's size)");
		}
	}
	return {};
}

/// The bridge's description of a (checked) image.
inline realmaster::VulkanSession::Image MakeVulkanImage(DeviceImageSlot slot, const DeviceImageDesc& d)
{
	realmaster::VulkanSession::Image image;
	image.image = d.image;
	image.width = d.width;
	image.height = d.height;
	image.format = ImageFormat::Rgba8Unorm;
	ImageFormatFromVkFormat(d.vkFormat, image.format);
	image.output = IsOutputSlot(slot);
	image.transfer_src = d.transferSrc;
	image.transfer_dst = d.transferDst;
	return image;
}

/// Registers each of a frame's images with the session once (VulkanSession::registerImage), again only
/// when the engine hands a different image for that slot (a resize reallocates them), and releases the
/// ones it replaces. `SessionT` is realmaster::VulkanSession or a test double with the same two methods.
/// Not thread-safe: used under the lock that serialises the session's calls.
class DeviceImageRegistry
{
public:
	/// Make `images` the registered set. False (and `status`) when the session refused one; the slots
	/// registered so far stay registered and are released by ReleaseAll.
	template <typename SessionT>
	bool Sync(SessionT& session, const DeviceFrameImages& images, realmaster::Status& status)
	{
		status = realmaster::Status{};
		for (std::size_t i = 0; i < kDeviceImageSlots; ++i)
		{
			Entry& e = entries_[i];
			const DeviceImageDesc& want = images[i];
			if (e.id != 0 && e.desc == want)
			{
				continue;
			}
			if (e.id != 0)
			{
				Release(session, e);
			}
			if (!want.Present())
			{
				continue;
			}
			const std::uint32_t id =
			    session.registerImage(MakeVulkanImage(static_cast<DeviceImageSlot>(i), want), status);
			if (id == 0 || !status.ok())
			{
				if (status.ok())
				{
					status =
					    DeviceConfigError("device path: the session returned no id for the " +
					                      std::string(DeviceImageSlotName(static_cast<DeviceImageSlot>(i))) + " image");
				}
				return false;
			}
			e.id = id;
			e.desc = want;
			++registrations_;
		}
		return true;
	}

	/// Release every registered image (before the session or the engine's images go away).
	template <typename SessionT> void ReleaseAll(SessionT& session)
	{
		for (Entry& e : entries_)
		{
			if (e.id != 0)
			{
				Release(session, e);
			}
		}
	}

	/// The session is gone: its ids mean nothing any more (nothing to release).
	void Forget() { entries_ = {}; }

	std::uint32_t Id(DeviceImageSlot slot) const { return entries_[static_cast<std::size_t>(slot)].id; }
	std::uint64_t Registrations() const { return registrations_; }
	std::uint64_t Releases() const { return releases_; }

private:
	struct Entry
	{
		DeviceImageDesc desc;
		std::uint32_t id = 0;
	};

	template <typename SessionT> void Release(SessionT& session, Entry& e)
	{
		// A refused release (an id the session no longer knows) leaves nothing to undo.
		session.releaseImage(e.id);
		e = Entry{};
		++releases_;
	}

	std::array<Entry, kDeviceImageSlots> entries_{};
	std::uint64_t registrations_ = 0;
	std::uint64_t releases_ = 0;
};

/// The frame in the conventions of RealMasterGBufferPack.usf's texture outputs, which are already the
/// runtime's own: depth is the distance along the view axis in metres (so not reverse Z:
/// depth_reverse_z_near 0), normals are view-space in [-1, 1] (normals_unorm_world false), motion is in
/// pixels from the current pixel to the previous frame (motion_uv false). The pack shader does the
/// conversions because Unreal's G-buffers are at render resolution while the colour is at output
/// resolution after TSR, its scene depth is a depth-stencil image (sampled in a depth read-only layout,
/// not the SHADER_READ_ONLY_OPTIMAL the contract asks for), and its velocity is encoded and only written
/// for moving objects. `light` is the scene's light in the same view space as those normals
/// (Core/RealMasterSceneLight.h); none leaves the runtime's fallback.
inline realmaster::VulkanSession::Frame
MakePackedDeviceFrame(const DeviceImageRegistry& images, bool cameraCut,
                      const std::optional<realmaster::SceneLight>& light = std::nullopt)
{
	// Value-initialised: every field the bridge adds later starts as zero / false (no light).
	realmaster::VulkanSession::Frame f = realmaster::VulkanSession::emptyFrame();
	f.color = images.Id(DeviceImageSlot::Color);
	f.depth = images.Id(DeviceImageSlot::Depth);
	f.depth_reverse_z_near = 0.0f;
	f.normals = images.Id(DeviceImageSlot::Normals);
	f.normals_unorm_world = false;
	f.world_to_view = {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f};
	f.motion = images.Id(DeviceImageSlot::Motion);
	f.motion_uv = false;
	f.output = images.Id(DeviceImageSlot::Output);
	f.camera_cut = cameraCut;
	realmaster::setLight(f, light);
	return f;
}

/// Unreal's Vulkan objects as the render thread reads them from the RHI (handles as integers).
struct VulkanHostDesc
{
	std::uint64_t instance = 0;
	std::uint32_t apiVersion = 0;
	/// Extensions enabled on the instance. Unreal does not report them; see MakeVulkanHandles.
	std::vector<std::string> instanceExtensions;
	std::uint64_t physicalDevice = 0;
	std::uint64_t device = 0;
	/// Extensions enabled on the device.
	std::vector<std::string> deviceExtensions;
	std::uint32_t queueFamily = 0;
	std::uint32_t queueIndex = 0;
};

/// Whether the host's objects can be handed over at all.
inline realmaster::Status CheckVulkanHost(const VulkanHostDesc& h)
{
	if (h.instance == 0 || h.physicalDevice == 0 || h.device == 0)
	{
		return DeviceConfigError("device path: the RHI returned a null VkInstance, VkPhysicalDevice or VkDevice "
		                         "(fix: create the session after the RHI is initialised)");
	}
	if (h.apiVersion < VulkanApiVersion(1, 1))
	{
		return DeviceConfigError("device path: the Vulkan instance is older than 1.1 (fix: none; the readback path "
		                         "is used)");
	}
	return {};
}

/// The bridge's handles. Strings cross lossily (a name is ASCII; nothing here can abort in cxx).
inline realmaster::VulkanSession::Handles MakeVulkanHandles(const VulkanHostDesc& h)
{
	realmaster::VulkanSession::Handles out;
	out.instance = h.instance;
	out.api_version = h.apiVersion;
	for (const std::string& e : h.instanceExtensions)
	{
		out.instance_extensions.push_back(rust::String::lossy(e));
	}
	out.physical_device = h.physicalDevice;
	out.device = h.device;
	for (const std::string& e : h.deviceExtensions)
	{
		out.device_extensions.push_back(rust::String::lossy(e));
	}
	out.queue_family = h.queueFamily;
	out.queue_index = h.queueIndex;
	return out;
}

/// Device extensions the runtime's GPU layer (wgpu-hal 30, Vulkan backend, get_required_extensions)
/// asks for whenever the driver offers them, and therefore expects to find enabled on the host's
/// device. The plugin hands this list to Unreal before the RHI creates its VkDevice
/// (IVulkanDynamicRHI::AddEnabledDeviceExtensionsAndLayers); Unreal enables those the driver supports
/// and skips the rest. VulkanSession::missingDeviceExtensions stays the authority at run time: whatever
/// is still missing sends the plugin to the readback path. The promoted ones (1.2: image_format_list,
/// driver_properties, timeline_semaphore, shader_float16_int8; 1.3: maintenance4, image_robustness,
/// shader_integer_dot_product) are only asked for by wgpu on devices older than those versions.
constexpr std::array<const char*, 15> kVulkanDeviceExtensionsToRequest = {
    "VK_KHR_swapchain",
    "VK_KHR_swapchain_mutable_format",
    "VK_EXT_robustness2",
    "VK_EXT_memory_budget",
    "VK_KHR_external_memory_fd",
    "VK_KHR_external_memory_win32",
    "VK_EXT_external_memory_dma_buf",
    "VK_EXT_image_drm_format_modifier",
    "VK_KHR_image_format_list",
    "VK_KHR_driver_properties",
    "VK_KHR_timeline_semaphore",
    "VK_KHR_shader_float16_int8",
    "VK_KHR_maintenance4",
    "VK_EXT_image_robustness",
    "VK_KHR_shader_integer_dot_product",
};

/// For engines that cannot list the device's enabled extensions (before 5.5): the requested ones the
/// driver offers, which Unreal enables when asked before device creation. An inference, not a report.
inline std::vector<std::string> RequestedAndAvailable(const std::vector<std::string>& available)
{
	std::vector<std::string> out;
	for (const char* name : kVulkanDeviceExtensionsToRequest)
	{
		if (std::find(available.begin(), available.end(), name) != available.end())
		{
			out.emplace_back(name);
		}
	}
	return out;
}

/// What VulkanSession::missingDeviceExtensions reported, as a status (ok when nothing is missing).
inline realmaster::Status MissingDeviceExtensionsStatus(const std::vector<std::string>& missing)
{
	if (missing.empty())
	{
		return {};
	}
	std::string names;
	for (const std::string& m : missing)
	{
		names += (names.empty() ? "" : ", ") + m;
	}
	const bool requested = std::all_of(missing.begin(), missing.end(),
	                                   [](const std::string& m)
	                                   {
		                                   return std::find_if(kVulkanDeviceExtensionsToRequest.begin(),
		                                                       kVulkanDeviceExtensionsToRequest.end(),
		                                                       [&m](const char* r)
		                                                       {
			                                                       return m == r;
		                                                       }) != kVulkanDeviceExtensionsToRequest.end();
	                                   });
	return DeviceConfigError(
	    "device path: Unreal's VkDevice lacks " + names +
	    (requested ? " (the plugin requests them at startup, so the driver does not offer them or the plugin was "
	                 "loaded after the RHI; fix: none needed, frames are read back to the CPU)"
	               : " (fix: add them to kVulkanDeviceExtensionsToRequest in Core/RealMasterDevicePath.h)"));
}

/// How a session reaches the frame: on the engine's GPU (Vulkan), or read back to the CPU.
enum class FramePath
{
	Device,
	Readback
};

inline const char* FramePathName(FramePath p)
{
	return p == FramePath::Device ? "device (Vulkan)" : "readback";
}

/// What decides the path, as the engine code finds it.
struct FramePathInputs
{
	/// r.RealMaster.DevicePath.
	bool enabledByUser = true;
	/// The RHI in use is Vulkan.
	bool rhiIsVulkan = false;
	/// This build has the engine APIs the device path uses (platform and engine version).
	bool engineSupportsDevicePath = false;
};

struct FramePathChoice
{
	FramePath path = FramePath::Readback;
	/// Why the readback path was chosen (empty for the device path).
	std::string reason;
};

/// Chooses the path for a session and remembers a device-path failure per session key (model folder +
/// execution provider), so a failing device path is tried once, reported once, and the readback path is
/// used for that key from then on.
class FramePathChooser
{
public:
	FramePathChoice Choose(const FramePathInputs& in, const std::string& key) const
	{
		if (!in.enabledByUser)
		{
			return {FramePath::Readback, "r.RealMaster.DevicePath is 0"};
		}
		if (!in.rhiIsVulkan)
		{
			return {FramePath::Readback, "the RHI is not Vulkan"};
		}
		if (!in.engineSupportsDevicePath)
		{
			return {FramePath::Readback, "this platform or engine version has no Vulkan device path"};
		}
		if (hasFailure_ && key == failedKey_)
		{
			return {FramePath::Readback, "the device path failed: " + failedWhy_};
		}
		return {FramePath::Device, std::string()};
	}

	/// The device path failed for `key`. True when this is news (log it); false for the same failure again.
	bool MarkDeviceFailed(const std::string& key, const std::string& why)
	{
		const bool news = !hasFailure_ || key != failedKey_ || why != failedWhy_;
		hasFailure_ = true;
		failedKey_ = key;
		failedWhy_ = why;
		return news;
	}

	void Clear()
	{
		hasFailure_ = false;
		failedKey_.clear();
		failedWhy_.clear();
	}

private:
	bool hasFailure_ = false;
	std::string failedKey_;
	std::string failedWhy_;
};

} // namespace RealMasterCore
